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
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
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
  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static Process drainer(TestService service, Path log, String crashAt) throws IOException {
    Map<String, String> env = new HashMap<>();
    env.put("OSPREY_HTTP_PORT", Integer.toString(freePort()));
    env.put("OSPREY_OUTBOX_ENABLED", "true");
    if (crashAt != null) {
      env.put("OSPREY_TEST_CRASH_AT", crashAt);
    }
    return service.spawn(Role.API, env, log);
  }

  @Test
  void killedDrainerAndCompetingDrainersGiveEveryMessageExactlyOnce() throws Exception {
    // This process only writes (its own drainer is off); the drainers run in other processes.
    try (TestService service = TestService.start(OutboxCrashTest.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", false)))) {
      String base = service.baseUrl();
      List<Path> logs = new ArrayList<>();
      List<Process> processes = new ArrayList<>();
      try {
        for (int i = 0; i < 20; i++) {
          OutboxStreamTest.create(base, Fixtures.uniqueJpeg(70_000 + i), "crash");
        }
        Path log = Files.createTempFile("osprey-drainer-", ".log");
        logs.add(log);
        Process doomed = drainer(service, log, CrashPoints.OUTBOX_AFTER_CONFIRM);
        processes.add(doomed);
        assertTrue(doomed.waitFor(90, TimeUnit.SECONDS), "the drainer should halt after its first confirm");
        assertEquals(137, doomed.exitValue(), Files.readString(log));
        long leftBehind = service.count("SELECT count(*) FROM annotation_outbox WHERE publishing_id IS NOT NULL");
        assertTrue(leftBehind > 0, "confirmed rows were left in the outbox by the crash");

        for (int i = 0; i < 2; i++) {
          Path l = Files.createTempFile("osprey-drainer-", ".log");
          logs.add(l);
          processes.add(drainer(service, l, null));
        }
        for (int i = 20; i < 120; i++) {
          OutboxStreamTest.create(base, Fixtures.uniqueJpeg(70_000 + i), "crash");
        }
        OutboxStreamTest.waitOutboxEmpty(service, 120_000);
        List<Received> all = StreamMessages.read(service.config(), 120, Duration.ofSeconds(60),
            Duration.ofSeconds(1));
        Map<Long, Integer> copies = new HashMap<>();
        all.forEach(r -> copies.merge(r.body().getLong("outboxId"), 1, Integer::sum));
        assertEquals(120, copies.size(), "every annotation reached the stream");
        assertEquals(120, all.size(), "none twice: " + leftBehind + " confirmed rows were re-sent and dropped");
        long leaders = 0;
        for (Path l : logs.subList(1, logs.size())) {
          leaders += Files.readString(l).contains("this instance now publishes") ? 1 : 0;
        }
        assertEquals(1, leaders, "one of the two live drainers led");
      } finally {
        for (Process p : processes) {
          p.destroyForcibly();
          p.waitFor(10, TimeUnit.SECONDS);
        }
        for (Path l : logs) {
          Files.deleteIfExists(l);
        }
      }
    }
  }
}
