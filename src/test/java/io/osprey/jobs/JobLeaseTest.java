package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Broker;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Job leases (issue 15): a delivery is acknowledged once the lease is taken, a second delivery of a job another
 * live worker holds is dropped, expired leases are swept and counted, workers consume again after the broker
 * closes their connection, and a job running past jobs.max_processing_seconds fails with PROCESSING_TIMEOUT.
 * Real PostgreSQL, Redis and RabbitMQ (rabbitmqctl on this machine).
 */
@IntegrationTest
class JobLeaseTest {
  private static TestService service;
  private static String base;
  private static String queue;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(JobLeaseTest.class, Role.ALL, new JsonObject()
        .put("jobs", new JsonObject().put("lease_seconds", 6).put("lease_renew_seconds", 1)));
    base = service.baseUrl();
    queue = service.config().string("jobs.queue");
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static JsonObject plainConfig() {
    return new JsonObject().put("model", "yolov8n_int8").put("visualization", false);
  }

  /** A job of {@code images} small photos: each takes a fraction of a second, the whole job longer. */
  private static String predict(String url, int images, JsonObject config) throws Exception {
    Path dir = Files.createTempDirectory("osprey-lease-");
    List<Path> files = new ArrayList<>();
    for (int i = 0; i < images; i++) {
      files.add(Fixtures.write(dir, "field" + i + ".png", Fixtures.image("png", 640, 480)));
    }
    return predict(url, files, config);
  }

  private static String predict(String url, List<Path> images, JsonObject config) throws Exception {
    JsonObject upload = Jobs.upload(url, images);
    var r = Jobs.predict(url, new JsonObject().put("upload_id", upload.getString("upload_id")).put("config", config));
    assertEquals(202, r.status(), r.body());
    return r.json().getJsonObject("data").getString("job_id");
  }

  private static String one(String sql) throws Exception {
    try (var c = service.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  private static void update(String sql) throws Exception {
    try (var c = service.jdbc(); var s = c.createStatement()) {
      s.executeUpdate(sql);
    }
  }

  private static void await(String what, long timeoutMs, Check check) throws Exception {
    long end = System.currentTimeMillis() + timeoutMs;
    while (!check.ok()) {
      assertTrue(System.currentTimeMillis() < end, "timed out waiting for " + what);
      Thread.sleep(200);
    }
  }

  private interface Check {
    boolean ok() throws Exception;
  }

  @Test
  void aSecondDeliveryOfAJobHeldByALiveWorkerIsDroppedAndTheJobCompletesOnce() throws Exception {
    OspreyApp peer = service.startPeer(Role.WORKER, new JsonObject());
    JobQueue copies = new JobQueue(service.app().vertx(), service.config().string("jobs.queue"),
        JobQueue.brokerOptions(service.config(), "osprey-test-duplicates"));
    try {
      copies.start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      // Small slices make the job long enough (many slices per photo) that it is still running when the copy
      // arrives, on fast machines too.
      String jobId = predict(base, 10, plainConfig()
          .put("sahi", new JsonObject().put("slice_width", 160).put("slice_height", 160)));
      await("the lease taken", 60_000, () -> one("SELECT lease_owner FROM jobs WHERE job_id = '" + jobId + "'")
          != null);
      String owner = one("SELECT lease_owner FROM jobs WHERE job_id = '" + jobId + "'");
      // The delivery was acknowledged once the lease was taken: nothing of this job waits in the broker.
      await("the delivery acknowledged", 10_000, () -> Broker.queueColumn(queue, "messages") == 0);

      // A redelivery (what the broker does after its consumer timeout): the idle worker gets it and drops it.
      assertEquals("processing", Jobs.status(base, jobId).getString("status"), "still running when the copy goes");
      copies.publish(jobId).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      await("the copy taken and dropped", 15_000, () -> Broker.queueColumn(queue, "messages") == 0);
      assertEquals("processing", Jobs.status(base, jobId).getString("status"));
      assertEquals(owner, one("SELECT lease_owner FROM jobs WHERE job_id = '" + jobId + "'"), "lease kept");

      // Generous: ten photos of small slices take minutes on a loaded 2-core machine.
      JsonObject done = Jobs.waitFor(base, jobId, 600_000, "completed", "failed");
      assertEquals("completed", done.getString("status"), done.encode());
      assertEquals("1", one("SELECT attempts FROM jobs WHERE job_id = '" + jobId + "'"), "taken once");
      assertEquals("10", one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'"));
      assertEquals("10", one("SELECT count(DISTINCT file_id) FROM job_results WHERE job_id = '" + jobId + "'"));
      assertEquals(null, one("SELECT lease_owner FROM jobs WHERE job_id = '" + jobId + "'"), "lease released");

      // A copy after completion is dropped too: the job is not run again.
      String completedAt = one("SELECT completed_at FROM jobs WHERE job_id = '" + jobId + "'");
      copies.publish(jobId).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      await("the late copy dropped", 15_000, () -> Broker.queueColumn(queue, "messages") == 0);
      assertEquals(completedAt, one("SELECT completed_at FROM jobs WHERE job_id = '" + jobId + "'"));
      assertEquals("1", one("SELECT attempts FROM jobs WHERE job_id = '" + jobId + "'"));
    } finally {
      copies.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      TestService.stop(peer);
    }
  }

  @Test
  void afterTheBrokerClosesTheWorkersConnectionItConsumesAgainAndJobsFlow() throws Exception {
    await("the worker consuming", 20_000, () -> Broker.queueColumn(queue, "consumers") == 1);
    // The worker's connection: the one carrying the consumer channel of this class's queue.
    Set<String> channels = Broker.consumerChannels(queue);
    assertEquals(1, channels.size(), channels.toString());
    Set<String> connections = new HashSet<>();
    for (String line : Broker.ctl("list_channels", "pid", "connection").split("\n")) {
      String[] f = line.trim().split("\t");
      if (f.length == 2 && channels.contains(f[0])) {
        connections.add(f[1]);
      }
    }
    assertEquals(1, connections.size(), connections.toString());
    Broker.ctl("close_connection", connections.iterator().next(), "JobLeaseTest: connection closed by the broker");
    await("the consumer gone", 10_000, () -> Broker.queueColumn(queue, "consumers") == 0
        || !Broker.ctl("list_connections", "pid").contains(connections.iterator().next()));
    await("the worker consuming again", 30_000, () -> Broker.queueColumn(queue, "consumers") == 1);

    String jobId = predict(base, 1, plainConfig());
    JsonObject done = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encode());
    await("the idle worker consuming", 10_000, () -> Broker.queueColumn(queue, "consumers") == 1);
  }

  @Test
  void anExpiredLeaseIsSweptHandedOnAndCountedTowardMaxDeliveries() throws Exception {
    // Jobs created through an API process whose queue nobody consumes; it is stopped before they are made
    // "running" (so only this service's sweep hands them on, to its own workers).
    OspreyApp idle = service.startPeer(Role.API, new JsonObject()
        .put("jobs", new JsonObject().put("queue", "osprey.test.idle." + UUID.randomUUID())));
    String url = "http://127.0.0.1:" + idle.port();
    JsonObject small = plainConfig();
    String resumed = predict(url, 1, small);
    String exhausted = predict(url, 1, small);
    String live = predict(url, 1, small);
    TestService.stop(idle);
    try {
      // Two "run" on a worker that died: its lease expired a moment ago. One was taken once, one three times.
      update("UPDATE jobs SET status = 'processing', started_at = now(), lease_owner = 'dead-worker',"
          + " lease_expires_at = now() - interval '1 second', attempts = 1 WHERE job_id = '" + resumed + "'");
      update("UPDATE jobs SET status = 'processing', started_at = now(), lease_owner = 'dead-worker',"
          + " lease_expires_at = now() - interval '1 second', attempts = 3 WHERE job_id = '" + exhausted + "'");
      // A live lease is left alone by the sweep.
      update("UPDATE jobs SET status = 'processing', started_at = now(), lease_owner = 'live-worker',"
          + " lease_expires_at = now() + interval '1 hour', attempts = 1 WHERE job_id = '" + live + "'");

      service.app().maintenance().tick().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertEquals("1", one("SELECT lease_expiries FROM jobs WHERE job_id = '" + resumed + "'"));
      assertEquals("0", one("SELECT lease_expiries FROM jobs WHERE job_id = '" + live + "'"));
      assertEquals("live-worker", one("SELECT lease_owner FROM jobs WHERE job_id = '" + live + "'"));

      JsonObject done = Jobs.waitFor(base, resumed, 60_000, "completed", "failed");
      assertEquals("completed", done.getString("status"), done.encode());
      assertEquals("2", one("SELECT attempts FROM jobs WHERE job_id = '" + resumed + "'"), "one more take");

      JsonObject failed = Jobs.waitFor(base, exhausted, 60_000, "completed", "failed");
      assertEquals("failed", failed.getString("status"), failed.encode());
      assertEquals("MAX_RETRIES", failed.getJsonObject("error").getString("code"), failed.encode());
      assertEquals("1", one("SELECT lease_expiries FROM jobs WHERE job_id = '" + exhausted + "'"));
      assertEquals("processing", one("SELECT status FROM jobs WHERE job_id = '" + live + "'"));
    } finally {
      update("UPDATE jobs SET status = 'failed', failed_at = now(), lease_owner = null"
          + " WHERE lease_owner = 'live-worker'");
    }
  }

  private static final int IMAGES = 40;

  @Test
  void aJobRunningPastTheProcessingLimitFailsWithProcessingTimeoutAndKeepsItsResults() throws Exception {
    JsonObject own = new JsonObject().put("queue", "osprey.test.timeout." + UUID.randomUUID());
    OspreyApp api = service.startPeer(Role.API, new JsonObject().put("jobs", own.copy()));
    OspreyApp worker = service.startPeer(Role.WORKER, new JsonObject().put("jobs", own.copy()
        .put("max_processing_seconds", 3)));
    try {
      String url = "http://127.0.0.1:" + api.port();
      // Small slices: each photo costs many tiles, so the job outlasts the 3 s limit on any machine (the whole-image
      // pass alone ran 40 photos in under 3 s once tile preparation got cheaper).
      String jobId = predict(url, IMAGES, plainConfig()
          .put("sahi", new JsonObject().put("slice_width", 160).put("slice_height", 160)));
      JsonObject failed = Jobs.waitFor(url, jobId, 60_000, "completed", "failed");
      assertEquals("failed", failed.getString("status"), failed.encode());
      JsonObject error = failed.getJsonObject("error");
      assertEquals("PROCESSING_TIMEOUT", error.getString("code"), failed.encode());
      int processed = failed.getJsonObject("progress").getInteger("processed_images");
      assertTrue(processed >= 1 && processed < IMAGES, failed.encode());
      assertTrue(error.getString("details").contains(processed + " of " + IMAGES + " images"), error.encode());
      // The partial results are kept, one per processed image, and the worker adds none after the timeout.
      Await.holds("no result rows after the timeout", Duration.ofSeconds(4), () -> String.valueOf(processed)
          .equals(one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'")));
      assertEquals(String.valueOf(processed), one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId
          + "'"));
      JsonObject later = Jobs.status(url, jobId);
      assertEquals("failed", later.getString("status"));
      assertEquals(processed, later.getJsonObject("progress").getInteger("processed_images"));
      assertNotNull(one("SELECT failed_at FROM jobs WHERE job_id = '" + jobId + "'"));
      assertFalse(one("SELECT lease_owner FROM jobs WHERE job_id = '" + jobId + "'") != null, "lease released");
    } finally {
      TestService.stop(worker);
      TestService.stop(api);
    }
  }
}
