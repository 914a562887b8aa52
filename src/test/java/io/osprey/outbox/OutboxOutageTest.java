package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Assets;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * 1,000 creates while the broker is stopped for part of the run (rabbitmqctl stop_app / start_app on the real
 * broker): creates keep succeeding, readiness reports the outage, the drainer backs off and resumes by itself, and
 * every message reaches the stream exactly once.
 */
@IntegrationTest
class OutboxOutageTest {
  private static final int CREATES = 1000;

  private static boolean rabbitmqctl(String command) throws Exception {
    try {
      Process p = new ProcessBuilder("rabbitmqctl", command).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (java.io.IOException e) {
      return false;
    }
  }

  @Test
  void everyCreateArrivesExactlyOnceAcrossABrokerOutage() throws Exception {
    Assets.require(rabbitmqctl("status"), "rabbitmqctl cannot control the local broker");
    try (TestService service = TestService.start(OutboxOutageTest.class, Role.API, new JsonObject()
        .put("outbox", new JsonObject().put("enabled", true).put("max_backoff_ms", 1000).put("confirm_timeout_seconds", 3)))) {
      String base = service.baseUrl();
      AtomicInteger next = new AtomicInteger();
      AtomicInteger failures = new AtomicInteger();
      Thread[] clients = new Thread[4];
      for (int t = 0; t < clients.length; t++) {
        clients[t] = new Thread(() -> {
          int n;
          while ((n = next.getAndIncrement()) < CREATES) {
            try {
              OutboxStreamTest.create(base, Fixtures.uniqueJpeg(50_000 + n), "outage");
            } catch (Throwable e) {
              failures.incrementAndGet();
            }
          }
        });
        clients[t].start();
      }
      boolean stopped = false;
      boolean sawDown = false;
      long stoppedAt = 0;
      long startedAt = 0;
      try {
        Await.until("300 creates before the outage", Duration.ofSeconds(60), () -> next.get() >= 300);
        assertTrue(rabbitmqctl("stop_app"), "broker stopped");
        stopped = true;
        stoppedAt = System.currentTimeMillis();
        long until = System.currentTimeMillis() + 4000;
        while (System.currentTimeMillis() < until) {
          Http.Response ready = Http.get(base + "/health/ready");
          sawDown |= ready.status() == 503;
          Thread.sleep(200);
        }
      } finally {
        if (stopped) {
          assertTrue(rabbitmqctl("start_app"), "broker started again");
          startedAt = System.currentTimeMillis();
        }
      }
      int createdDuringOutage = next.get() - 300;
      for (Thread t : clients) {
        t.join();
      }
      assertEquals(0, failures.get(), "creates do not depend on the broker");
      assertTrue(sawDown, "readiness reported the outage");
      assertTrue(createdDuringOutage > 50, "creates went on during the outage: " + createdDuringOutage);

      OutboxStreamTest.waitOutboxEmpty(service, 120_000);
      List<Received> all = StreamMessages.read(service.config(), CREATES, Duration.ofSeconds(60),
          Duration.ofSeconds(1));
      Set<Long> outboxIds = new HashSet<>();
      all.forEach(r -> outboxIds.add(r.body().getLong("outboxId")));
      assertEquals(CREATES, outboxIds.size(), "every create arrived");
      assertEquals(CREATES, all.size(), "and none twice");
      assertEquals(200, Http.get(base + "/health/ready").status());
      System.out.printf("[fault] broker stop (stop_app .. start_app %.1f s): %d creates, %d during the outage, 0"
          + " failed (every create answered 201); readiness 503 during it; all %d reached the stream, none twice,"
          + " the last %.1f s after start_app%n", (startedAt - stoppedAt) / 1000.0, CREATES, createdDuringOutage,
          CREATES, (System.currentTimeMillis() - startedAt) / 1000.0);
    }
  }
}
