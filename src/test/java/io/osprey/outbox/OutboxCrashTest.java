package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.annotations.CrashPoints;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Drainers in separate processes: one halted (as abruptly as SIGKILL) after the broker confirmed a batch and before
 * the rows were deleted, then two more competing for the outbox while annotations keep coming. The stream ends up
 * with every message exactly once: the re-published batch reuses its publishing ids and the broker drops it, and
 * only the holder of the advisory lock publishes.
 */
@IntegrationTest
class OutboxCrashTest {
  @Test
  void killedDrainerAndCompetingDrainersGiveEveryMessageExactlyOnce() throws Exception {
    // This process only writes (its own drainer is off); the drainers run in other processes.
    try (TestService service = TestService.start(OutboxCrashTest.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", false)))) {
      String base = service.baseUrl();
      try (DrainerProcesses drainers = new DrainerProcesses(service)) {
        for (int i = 0; i < 20; i++) {
          OutboxStreamTest.create(base, Fixtures.uniqueJpeg(70_000 + i), "crash");
        }
        Process doomed = drainers.start(CrashPoints.OUTBOX_AFTER_CONFIRM, Map.of());
        assertTrue(doomed.waitFor(90, TimeUnit.SECONDS), "the drainer should halt after its first confirm");
        assertEquals(137, doomed.exitValue(), drainers.log(0));
        long leftBehind = service.count("SELECT count(*) FROM annotation_outbox WHERE publishing_id IS NOT NULL");
        assertTrue(leftBehind > 0, "confirmed rows were left in the outbox by the crash");

        for (int i = 0; i < 2; i++) {
          drainers.start(null, Map.of());
        }
        for (int i = 20; i < 120; i++) {
          OutboxStreamTest.create(base, Fixtures.uniqueJpeg(70_000 + i), "crash");
        }
        OutboxStreamTest.waitOutboxEmpty(service, 120_000);
        List<Received> all = StreamMessages.read(service.config(), 120, Duration.ofSeconds(60),
            Duration.ofSeconds(1));
        assertEquals(120, StreamMessages.copiesByOutboxId(all).size(), "every annotation reached the stream");
        assertEquals(120, all.size(), "none twice: " + leftBehind + " confirmed rows were re-sent and dropped");
        long leaders = 0;
        for (int i = 1; i < drainers.started(); i++) {
          leaders += drainers.log(i).contains("this instance now publishes") ? 1 : 0;
        }
        assertEquals(1, leaders, "one of the two live drainers led");
      }
    }
  }
}
