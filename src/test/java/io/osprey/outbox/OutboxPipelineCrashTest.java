package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.annotations.CrashPoints;
import io.osprey.auth.Permission;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The drainer keeps two batches in flight. Halted (as abruptly as SIGKILL) when the broker confirmed one batch while
 * the next was already sent, it leaves both batches' rows with their publishing ids; the next drainer re-sends them
 * in publishing-id order, the broker drops what it already has, and the stream holds every change exactly once with
 * each annotation's changes in commit order (docs/stream-contract.md, Guarantees).
 */
@IntegrationTest
class OutboxPipelineCrashTest {
  private static final int BATCH = 10;
  private static final int ANNOTATIONS = 12;
  private static final String[] STATUSES = {"Validated", "Edited", "Validated"};

  @Test
  void crashWithTwoBatchesInFlightStillGivesEachChangeOnceAndInOrderPerAnnotation() throws Exception {
    try (TestService service = TestService.start(OutboxPipelineCrashTest.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", false)))) {
      String base = service.baseUrl();
      String curator = TestAuth.token("curator", Permission.DATASET);
      // A backlog in which each annotation's changes are spread over several batches.
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < ANNOTATIONS; i++) {
        ids.add(OutboxStreamTest.create(base, Fixtures.uniqueJpeg(91_000 + i), "pipeline"));
      }
      for (String status : STATUSES) {
        for (String id : ids) {
          assertEquals(200, Http.json("PATCH", base + "/dataset/" + id + "/status", curator,
              new JsonObject().put("status", status)).status());
        }
      }
      int changes = ANNOTATIONS * (1 + STATUSES.length);
      assertEquals(changes, service.count("SELECT count(*) FROM annotation_outbox"));

      try (DrainerProcesses drainers = new DrainerProcesses(service)) {
        Map<String, String> batch = Map.of("OSPREY_OUTBOX_BATCH_SIZE", Integer.toString(BATCH));
        Process doomed = drainers.start(CrashPoints.OUTBOX_AFTER_CONFIRM_NEXT_SENT, batch);
        assertTrue(doomed.waitFor(90, TimeUnit.SECONDS), "the drainer should halt with two batches in flight");
        assertEquals(137, doomed.exitValue(), drainers.log(0));
        long leased = service.count("SELECT count(*) FROM annotation_outbox WHERE publishing_id IS NOT NULL");
        assertTrue(leased > BATCH, "two batches were leased when it halted, not one: " + leased + " rows");

        drainers.start(null, batch);
        OutboxStreamTest.waitOutboxEmpty(service, 120_000);

        List<Received> all = StreamMessages.read(service.config(), changes, Duration.ofSeconds(60),
            Duration.ofSeconds(1));
        assertEquals(changes, StreamMessages.copiesByOutboxId(all).size(), "every change reached the stream");
        assertEquals(changes, all.size(), "none twice: the " + leased + " leased rows were re-sent and dropped");
        for (String id : ids) {
          List<Received> mine = all.stream().filter(r -> id.equals(r.body().getString("annotationId"))).toList();
          List<String> expected = new ArrayList<>(List.of("Created"));
          for (String status : STATUSES) {
            expected.add(status.equals("Validated") ? "Validated" : "StatusChanged");
          }
          assertEquals(expected, mine.stream().map(r -> r.body().getString("operation")).toList(),
              "the changes of " + id + " in commit order");
          long previous = -1;
          for (Received r : mine) {
            assertTrue(r.body().getLong("outboxId") > previous, "outbox ids grow along the stream for " + id);
            previous = r.body().getLong("outboxId");
          }
        }
      }
    }
  }
}
