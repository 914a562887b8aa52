package io.osprey.jobs;

import io.osprey.testing.Broker;
import io.osprey.testing.IntegrationTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Jobs;
import io.osprey.testing.TestService;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Several processes sweeping at once hand each job to the broker once (issue 15): every process that runs jobs now
 * runs the maintenance round, so the republisher ("select the jobs the broker lacks, publish, mark") must not run
 * in two of them over the same rows. Three processes, no consumer on their queue: after they all run a round at
 * the same moment over 20 jobs the broker lacks, the queue holds each of them exactly once more.
 */
@IntegrationTest
class JobRepublishLockTest {
  private static final int JOBS = 20;

  @Test
  void concurrentSweepersPublishEachJobTheBrokerLacksOnce() throws Exception {
    Broker.require();
    io.osprey.testing.Models.assumePresent();
    // API role only: nobody consumes the queue, so every publish stays countable in it.
    try (TestService service = TestService.start(JobRepublishLockTest.class, Role.API, new JsonObject())) {
      OspreyApp second = service.startPeer(Role.API, new JsonObject());
      OspreyApp third = service.startPeer(Role.API, new JsonObject());
      try {
        String queue = service.config().string("jobs.queue");
        Path dir = Files.createTempDirectory("osprey-republish-");
        Path photo = Fixtures.write(dir, "field.png", Fixtures.image("png", 64, 64));
        JsonObject upload = Jobs.upload(service.baseUrl(), List.of(photo));
        for (int i = 0; i < JOBS; i++) {
          var r = Jobs.predict(service.baseUrl(), new JsonObject().put("upload_id", upload.getString("upload_id"))
              .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)));
          assertEquals(202, r.status(), r.body());
        }
        awaitMessages(queue, JOBS);
        // As if the broker lost them (or a sweep cleared dead workers' leases): every job is due for republishing.
        try (var c = service.jdbc(); var s = c.createStatement()) {
          assertEquals(JOBS, s.executeUpdate("UPDATE jobs SET enqueued = false, updated_at = now() - interval"
              + " '1 minute'"));
        }
        List<Future<Void>> rounds = List.of(service.app().maintenance().tick(), second.maintenance().tick(),
            third.maintenance().tick());
        for (Future<Void> round : rounds) {
          round.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
        // Any round the timers started meanwhile is over too once every process has run one more.
        for (OspreyApp app : List.of(service.app(), second, third)) {
          app.maintenance().tick().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
        assertEquals(0, service.count("SELECT count(*) FROM jobs WHERE NOT enqueued"), "every job republished");
        // The broker's queue figures lag (statistics are emitted every few seconds): wait for the expected count,
        // then past another emission, so a surplus would show.
        awaitMessages(queue, 2L * JOBS);
        Thread.sleep(7000);
        assertEquals(2L * JOBS, Broker.queueColumn(queue, "messages"), "each job published once at predict and once by the sweepers");
        System.out.printf("[republish] 3 processes swept at once over %d jobs the broker lacked; the queue got"
            + " %d messages (one each)%n", JOBS, Broker.queueColumn(queue, "messages") - JOBS);
      } finally {
        TestService.stop(third);
        TestService.stop(second);
      }
    }
  }

  private static void awaitMessages(String queue, long expected) throws Exception {
    long end = System.currentTimeMillis() + 20_000;
    while (Broker.queueColumn(queue, "messages") != expected) {
      assertTrue(System.currentTimeMillis() < end, "queue " + queue + " holds " + Broker.queueColumn(queue, "messages") + ", not "
          + expected);
      Thread.sleep(200);
    }
  }
}
