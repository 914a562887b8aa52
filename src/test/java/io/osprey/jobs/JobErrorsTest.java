package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.bus.Bus;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Every error path of the job API and the worker, against the real servers. Peers (other processes of the same
 * service, in this JVM) with their own queue or a broken dependency make a job stay queued, time out, or meet a
 * dead broker or Redis.
 */
@IntegrationTest
class JobErrorsTest {
  @TempDir
  static Path modelsDir;
  private static TestService service;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    // The shared models plus one that exists but cannot load.
    for (String name : List.of("yolox_nano.onnx", "yolov8n_int8.onnx", "coco80.names")) {
      Files.createSymbolicLink(modelsDir.resolve(name), Models.dir().resolve(name).toAbsolutePath());
    }
    Files.writeString(modelsDir.resolve("broken.onnx"), "not a model");
    service = TestService.start(JobErrorsTest.class, Role.ALL, new JsonObject()
        .put("models", new JsonObject().put("dir", modelsDir.toString()).put("default", "yolox_nano")));
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static JsonObject smallUpload(String url) throws Exception {
    Path dir = Files.createTempDirectory("osprey-jobs-");
    Path png = Fixtures.write(dir, "field.png", Fixtures.image("png", 320, 200));
    return Jobs.upload(url, List.of(png));
  }

  private static JsonObject predictBody(JsonObject upload, JsonObject config) {
    return new JsonObject().put("upload_id", upload.getString("upload_id")).put("config", config);
  }

  private static String accept(String url, JsonObject body) throws Exception {
    Http.Response r = Jobs.predict(url, body);
    assertEquals(202, r.status(), r.body());
    return r.json().getJsonObject("data").getString("job_id");
  }

  /** A peer API process whose jobs go to a queue nobody consumes: they stay queued. */
  private static OspreyApp idlePeer(JsonObject extra) throws Exception {
    return service.startPeer(Role.API, new JsonObject()
        .put("jobs", new JsonObject().put("queue", "osprey.test.idle." + UUID.randomUUID())).mergeIn(extra, true));
  }

  private static String url(OspreyApp app) {
    return "http://127.0.0.1:" + app.port();
  }

  @Test
  void predictNamesEveryBadFieldWithInvalidConfig() throws Exception {
    JsonObject upload = smallUpload(base);
    String fileId = upload.getJsonArray("files").getJsonObject(0).getString("file_id");
    Http.Response r = Jobs.predict(base, new JsonObject()
        .put("upload_id", upload.getString("upload_id"))
        .put("file_ids", new JsonArray().add(fileId).add(UUID.randomUUID().toString()).add("nope"))
        .put("config", new JsonObject().put("confidence", 2).put("model", "ghost")
            .put("sahi", new JsonObject().put("overlap_height_ratio", 1.5).put("postprocess_type", "FOO")
                .put("slice_height", 10).put("slice_width", 512))));
    assertEquals(400, r.status(), r.body());
    assertEquals("INVALID_CONFIG", r.json().getString("code"));
    Set<String> fields = r.json().getJsonArray("errors").stream()
        .map(e -> ((JsonObject) e).getString("field")).collect(Collectors.toSet());
    assertEquals(Set.of("config.confidence", "config.model", "config.sahi.overlap_height_ratio",
        "config.sahi.postprocess_type", "config.sahi.slice_height", "file_ids[1]", "file_ids[2]"), fields);
    assertTrue(r.json().getJsonArray("errors").stream().allMatch(e -> ((JsonObject) e).getString("message") != null));
  }

  @Test
  void predictForAnUnknownUploadOrWithoutJsonIsRefused() throws Exception {
    Http.Response unknown = Jobs.predict(base, new JsonObject().put("upload_id", UUID.randomUUID().toString()));
    assertEquals(400, unknown.status());
    assertEquals("INVALID_CONFIG", unknown.json().getString("code"));
    assertEquals("upload_id", unknown.json().getJsonArray("errors").getJsonObject(0).getString("field"));

    Http.Response notJson = Http.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create(base + "/api/v1/inference/predict"))
        .header("Content-Type", "application/json")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{not json")).build());
    assertEquals(400, notJson.status());
    assertEquals("INVALID_REQUEST", notJson.json().getString("code"));
  }

  @Test
  void unknownJobsAreJobNotFound() throws Exception {
    for (String path : List.of("/status", "/results", "/visualization")) {
      Http.Response r = Http.get(base + "/api/v1/jobs/" + UUID.randomUUID() + path);
      assertEquals(404, r.status(), path);
      assertEquals("JOB_NOT_FOUND", r.json().getString("code"));
    }
    assertEquals("JOB_NOT_FOUND", Http.get(base + "/api/v1/jobs/job_abc123/status").json().getString("code"));
    assertEquals(404, Jobs.post(base + "/api/v1/jobs/" + UUID.randomUUID() + "/cancel").status());
  }

  @Test
  void queuedJobHasNoResultsYetAndCancelsAtOnceThenNeverChanges() throws Exception {
    OspreyApp peer = idlePeer(new JsonObject());
    try {
      String jobId = accept(url(peer), predictBody(smallUpload(url(peer)), new JsonObject()));
      JsonObject queued = Jobs.status(url(peer), jobId);
      assertEquals("queued", queued.getString("status"));
      assertEquals(new JsonObject().put("total_images", 1).put("processed_images", 0).put("percentage", 0),
          queued.getJsonObject("progress"));
      Http.Response notReady = Http.get(url(peer) + "/api/v1/jobs/" + jobId + "/results");
      assertEquals(404, notReady.status());
      assertEquals("RESULTS_NOT_READY", notReady.json().getString("code"));

      Http.Response cancel = Jobs.post(url(peer) + "/api/v1/jobs/" + jobId + "/cancel");
      assertEquals(200, cancel.status(), cancel.body());
      assertEquals("cancelled", cancel.json().getString("status"));
      assertNotNull(cancel.json().getString("cancelled_at"));
      assertEquals("cancelled", Jobs.status(base, jobId).getString("status"));

      Http.Response again = Jobs.post(url(peer) + "/api/v1/jobs/" + jobId + "/cancel");
      assertEquals(409, again.status());
      assertEquals("JOB_NOT_CANCELLABLE", again.json().getString("code"));

      // A worker that gets the message anyway leaves the cancelled job alone.
      service.app().vertx().eventBus().request(Bus.JOBS_RUN, new Bus.RunJob(jobId, 1).toJson())
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertEquals("cancelled", Jobs.status(base, jobId).getString("status"));
    } finally {
      TestService.stop(peer);
    }
  }

  @Test
  void jobQueuedPastTheTimeoutFails() throws Exception {
    OspreyApp peer = idlePeer(new JsonObject().put("jobs", new JsonObject().put("queued_timeout_seconds", 1)));
    try {
      String jobId = accept(url(peer), predictBody(smallUpload(url(peer)), new JsonObject()));
      // Maintenance rounds until one finds the job past its 1 s in the queue.
      JsonObject failed = Await.until("a maintenance round fails the job queued past its timeout",
          Duration.ofSeconds(15), () -> {
            peer.maintenance().tick().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            return Jobs.status(url(peer), jobId);
          }, s -> !"queued".equals(s.getString("status")));
      assertEquals("failed", failed.getString("status"), failed.encode());
      assertEquals("QUEUE_TIMEOUT", failed.getJsonObject("error").getString("code"));
      assertNotNull(failed.getString("failed_at"));
    } finally {
      TestService.stop(peer);
    }
  }

  @Test
  void jobAcceptedWhileTheBrokerIsDownIsQueuedWhenItIsBack() throws Exception {
    OspreyApp noBroker = service.startPeer(Role.API, new JsonObject().put("rabbitmq", new JsonObject().put("port", 2)));
    String jobId;
    try {
      jobId = accept(url(noBroker), predictBody(smallUpload(url(noBroker)), new JsonObject()));
      Await.holds("the job stays queued while no broker takes it", Duration.ofSeconds(1),
          () -> "queued".equals(Jobs.status(url(noBroker), jobId).getString("status")));
    } finally {
      TestService.stop(noBroker);
    }
    // The same job table seen by an instance that reaches the broker: its next round hands the job over.
    long back = System.currentTimeMillis();
    service.app().maintenance().tick().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    JsonObject done = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encode());
    System.out.printf("[fault] broker unreachable at predict: 202 and status queued (the job waits in PostgreSQL);"
        + " handed to the broker by the next maintenance round and completed %.1f s later%n",
        (System.currentTimeMillis() - back) / 1000.0);
  }

  @Test
  void statusIsServedFromPostgresWhenRedisIsDown() throws Exception {
    String jobId = accept(base, predictBody(smallUpload(base), new JsonObject()));
    Jobs.waitFor(base, jobId, 60_000, "completed");
    OspreyApp noRedis = service.startPeer(Role.API, new JsonObject().put("redis", new JsonObject().put("port", 1)));
    try {
      long start = System.nanoTime();
      JsonObject status = Jobs.status(url(noRedis), jobId);
      assertEquals("completed", status.getString("status"));
      assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(3), "fallback must not wait long");
      // Predict still works: the rate limit counts in process without Redis, the job is stored and queued.
      Http.Response accepted = Jobs.predict(url(noRedis), predictBody(smallUpload(url(noRedis)), new JsonObject()));
      assertEquals(202, accepted.status(), accepted.body());
    } finally {
      TestService.stop(noRedis);
    }
  }

  @Test
  void predictBeyondTheRateLimitIs429WithRetryAfter() throws Exception {
    OspreyApp limited = idlePeer(new JsonObject()
        .put("jobs", new JsonObject().put("rate_limit_per_minute", 2))
        .put("redis", new JsonObject().put("key_prefix", "osprey:rate-test:" + UUID.randomUUID() + ":")));
    try {
      JsonObject upload = smallUpload(url(limited));
      int accepted = 0;
      Http.Response last = null;
      for (int i = 0; i < 3; i++) {
        last = Jobs.predict(url(limited), predictBody(upload, new JsonObject()));
        if (last.status() == 202) {
          accepted++;
        }
      }
      // Two fit in one minute window unless the minute turned between requests.
      assertTrue(accepted >= 2, "accepted " + accepted);
      if (accepted == 2) {
        assertEquals(429, last.status());
        assertEquals("RATE_LIMIT_EXCEEDED", last.json().getString("code"));
        int retryAfter = Integer.parseInt(last.header("Retry-After"));
        assertTrue(retryAfter >= 1 && retryAfter <= 60, "Retry-After " + retryAfter);
      }
    } finally {
      TestService.stop(limited);
    }
  }

  @Test
  void modelThatCannotLoadFailsTheJobWithoutRetry() throws Exception {
    String jobId = accept(base, predictBody(smallUpload(base), new JsonObject().put("model", "broken")));
    JsonObject failed = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("failed", failed.getString("status"));
    assertEquals("MODEL_LOAD_ERROR", failed.getJsonObject("error").getString("code"));
    assertEquals("Failed to load YOLO model", failed.getJsonObject("error").getString("message"));
    assertTrue(failed.getJsonObject("error").getString("details").contains("broken.onnx"));
  }

  @Test
  void imageMissingFromStorageFailsTheJobWithFileNotFound() throws Exception {
    JsonObject upload = smallUpload(base);
    Files.delete(service.storage().resolve(upload.getJsonArray("files").getJsonObject(0).getString("storage_path")));
    String jobId = accept(base, predictBody(upload, new JsonObject()));
    JsonObject failed = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("FILE_NOT_FOUND", failed.getJsonObject("error").getString("code"), failed.encode());
  }

  @Test
  void storedImageOverThePixelBudgetFailsTheJobWithInvalidDimensionsWithoutDecoding() throws Exception {
    // A file already in storage (stored before the budget, or by other means) that declares 20000x20000.
    JsonObject upload = smallUpload(base);
    Path stored = service.storage().resolve(upload.getJsonArray("files").getJsonObject(0).getString("storage_path"));
    Files.write(stored, io.osprey.testing.ImageBombs.png(20000, 20000));
    String jobId = accept(base, predictBody(upload, new JsonObject()));
    JsonObject failed = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("failed", failed.getString("status"));
    JsonObject error = failed.getJsonObject("error");
    assertEquals("INVALID_DIMENSIONS", error.getString("code"), failed.encode());
    assertEquals("Image has too many pixels", error.getString("message"));
    assertTrue(error.getString("details").contains("field.png") && error.getString("details")
        .contains("20000x20000 = 400000000 pixels; the limit is 67108864 (images.max_pixels)"), error.encode());
  }

  @Test
  void storedImageWhosePixelsDoNotDecodeFailsTheJobWithCorruptedFile() throws Exception {
    JsonObject upload = smallUpload(base);
    Path stored = service.storage().resolve(upload.getJsonArray("files").getJsonObject(0).getString("storage_path"));
    Files.write(stored, io.osprey.testing.ImageBombs.undecodablePng(320, 200));
    String jobId = accept(base, predictBody(upload, new JsonObject()));
    JsonObject failed = Jobs.waitFor(base, jobId, 60_000, "completed", "failed");
    assertEquals("CORRUPTED_FILE", failed.getJsonObject("error").getString("code"), failed.encode());
  }

  @Test
  void storageErrorIsRetriedAndFailsWithMaxRetriesWhenItPersists() throws Exception {
    OspreyApp peer = idlePeer(new JsonObject());
    try {
      String jobId = accept(url(peer), predictBody(smallUpload(url(peer)), new JsonObject()));
      // A plain file where the job's results folder goes: every write of results fails, as on a broken disk.
      Path blocker = service.storage().resolve("results").resolve(jobId);
      Files.createDirectories(blocker.getParent());
      Files.writeString(blocker, "not a folder");
      try {
        service.app().vertx().eventBus().request(Bus.JOBS_RUN, new Bus.RunJob(jobId, 1).toJson())
            .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      } finally {
        Files.deleteIfExists(blocker);
      }
      JsonObject failed = Jobs.status(base, jobId);
      assertEquals("failed", failed.getString("status"));
      assertEquals("MAX_RETRIES", failed.getJsonObject("error").getString("code"));
      assertTrue(failed.getJsonObject("error").getString("details").contains("failed 3 times"), failed.encode());
      assertEquals(0, service.count("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'"));
    } finally {
      TestService.stop(peer);
    }
  }

  @Test
  void storageErrorThatPassesIsRetriedAndTheJobCompletes() throws Exception {
    OspreyApp peer = idlePeer(new JsonObject());
    // A worker of its own (on an unused queue) with a long first backoff, so the test can heal the disk in between.
    OspreyApp worker = service.startPeer(Role.WORKER, new JsonObject().put("jobs", new JsonObject()
        .put("queue", "osprey.test.unused." + UUID.randomUUID()).put("retry_backoff_ms", 1500)));
    Logger osprey = (Logger) LoggerFactory.getLogger("io.osprey");
    ListAppender<ILoggingEvent> retries = new ListAppender<>();
    retries.start();
    osprey.addAppender(retries);
    try {
      String jobId = accept(url(peer), predictBody(smallUpload(url(peer)), new JsonObject()));
      Path blocker = service.storage().resolve("results").resolve(jobId);
      Files.createDirectories(blocker.getParent());
      Files.writeString(blocker, "not a folder");
      long start = System.nanoTime();
      var run = worker.vertx().eventBus().request(Bus.JOBS_RUN, new Bus.RunJob(jobId, 1).toJson());
      // Heal the disk once the first attempt has failed (the worker logs its retry); the second starts 1.5 s later.
      Await.until("the first attempt failed and a retry was scheduled", Duration.ofSeconds(30), () -> {
        synchronized (retries) {
          return retries.list.stream().map(ILoggingEvent::getFormattedMessage)
              .anyMatch(m -> m.contains(jobId) && m.contains("attempt 1/"));
        }
      });
      Files.delete(blocker);
      run.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(1500), "a retry waited its backoff");
      JsonObject done = Jobs.status(base, jobId);
      assertEquals("completed", done.getString("status"), done.encode());
    } finally {
      osprey.detachAppender(retries);
      TestService.stop(worker);
      TestService.stop(peer);
    }
  }

  @Test
  void jobDeliveredMoreThanThreeTimesFailsWithMaxRetries() throws Exception {
    OspreyApp peer = idlePeer(new JsonObject());
    try {
      String jobId = accept(url(peer), predictBody(smallUpload(url(peer)), new JsonObject()));
      service.app().vertx().eventBus().request(Bus.JOBS_RUN, new Bus.RunJob(jobId, 4).toJson())
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      JsonObject failed = Jobs.status(base, jobId);
      assertEquals("failed", failed.getString("status"));
      assertEquals("MAX_RETRIES", failed.getJsonObject("error").getString("code"));
      assertFalse(Files.exists(service.storage().resolve("results").resolve(jobId).resolve("predictions")));
    } finally {
      TestService.stop(peer);
    }
  }
}
