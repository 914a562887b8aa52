package io.osprey.retention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 items 5 and 6 against real PostgreSQL, Redis, RabbitMQ and a real model: DELETE of jobs and uploads,
 * the retention sweep, and the disk guard.
 */
@IntegrationTest
class RetentionAndDeleteTest {
  private static TestService service;
  private static String base;
  private static Path dir;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    // One worker, so a slow job keeps the next one queued. This instance keeps everything (retention 0), so only
    // the sweeps a test starts, and the disk-guard peer's early sweep, remove anything.
    service = TestService.start(RetentionAndDeleteTest.class, Role.ALL,
        new JsonObject().put("jobs", new JsonObject().put("worker_instances", 1))
            .put("storage", new JsonObject().put("retention_days", 0)));
    base = service.baseUrl();
    dir = Files.createTempDirectory("osprey-retention-test");
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static JsonObject upload(String token, int seed) throws Exception {
    Path image = Fixtures.write(dir, "img" + seed + ".jpg", Fixtures.uniqueJpeg(seed));
    Http.Response r = new Http.Multipart().token(token).file("files", "img" + seed + ".jpg", image)
        .post(base + "/api/v1/inference/upload");
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  private static String predict(String token, String uploadId, JsonObject config) throws Exception {
    Http.Response r = Http.json("POST", base + "/api/v1/inference/predict", token,
        new JsonObject().put("upload_id", uploadId).put("config", config));
    assertEquals(202, r.status(), r.body());
    return r.json().getJsonObject("data").getString("job_id");
  }

  private static Http.Response delete(String path, String token) throws Exception {
    return Http.send(Http.request(base + path, token).DELETE().build());
  }

  private static Http.Response status(String jobId, String token) throws Exception {
    return Http.get(base + "/api/v1/jobs/" + jobId + "/status", token);
  }

  private static long jobRows(String jobId) throws Exception {
    return service.count("SELECT count(*) FROM jobs WHERE job_id = '" + jobId + "'");
  }

  private static JsonObject waitFor(String jobId, String token, long timeoutMs, String... states) throws Exception {
    long deadline = System.currentTimeMillis() + timeoutMs;
    JsonObject last = null;
    while (System.currentTimeMillis() < deadline) {
      last = status(jobId, token).json();
      if (List.of(states).contains(last.getString("status"))) {
        return last;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("job " + jobId + " never reached " + List.of(states) + "; last " + last);
  }

  private static double metric(String baseUrl, String name, String labels) throws Exception {
    String text = Http.get(baseUrl + "/metrics").body();
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{([^}]*)\\} (\\S+)$").matcher(text);
    double sum = 0;
    boolean found = false;
    while (m.find()) {
      if (m.group(1).contains(labels)) {
        sum += Double.parseDouble(m.group(2));
        found = true;
      }
    }
    return found ? sum : 0;
  }

  @Test
  void deletingACompletedJobRemovesRowsResultsAndVisualizationsThenStatusAndResultsAre404() throws Exception {
    String token = TestAuth.token("alice");
    JsonObject up = upload(token, 11);
    String jobId = predict(token, up.getString("upload_id"), new JsonObject().put("model", "yolov8n_int8"));
    JsonObject done = waitFor(jobId, token, 120_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encode());
    Path results = service.storage().resolve("results").resolve(jobId);
    assertTrue(Files.isDirectory(results.resolve("visualizations")), "the job wrote visualizations");
    assertEquals(200, Http.get(base + "/api/v1/jobs/" + jobId + "/results", token).status());

    // Another user's job is not theirs to delete, and they do not learn it exists.
    Http.Response foreign = delete("/api/v1/jobs/" + jobId, TestAuth.token("mallory"));
    assertEquals(404, foreign.status(), foreign.body());
    assertEquals("JOB_NOT_FOUND", foreign.json().getString("code"));
    Http.Response anonymous = delete("/api/v1/jobs/" + jobId, null);
    assertEquals(404, anonymous.status(), "a token's job is not an anonymous capability");
    assertEquals(1, jobRows(jobId));

    Http.Response gone = delete("/api/v1/jobs/" + jobId, token);
    assertEquals(204, gone.status(), gone.body());
    assertEquals("", gone.body());
    for (String path : List.of("/status", "/results", "/visualization")) {
      Http.Response r = Http.get(base + "/api/v1/jobs/" + jobId + path, token);
      assertEquals(404, r.status(), path + ": " + r.body());
      assertEquals("JOB_NOT_FOUND", r.json().getString("code"), path);
    }
    assertEquals(0, jobRows(jobId));
    assertEquals(0, service.count("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'"));
    assertFalse(Files.exists(results), "results folder removed");
    assertEquals(404, delete("/api/v1/jobs/" + jobId, token).status(), "a second delete finds nothing");
    assertEquals(404, delete("/api/v1/jobs/not-a-uuid", token).status());
    // The upload stays: deleting a job does not delete its images.
    assertTrue(Files.isDirectory(service.storage().resolve("uploads").resolve(up.getString("upload_id"))));
  }

  @Test
  void adminDeletesAnyJobAndAnAnonymousJobIsDeletedByItsIdHolder() throws Exception {
    String bob = TestAuth.token("bob");
    String bobs = predict(bob, upload(bob, 21).getString("upload_id"), new JsonObject());
    waitFor(bobs, bob, 120_000, "completed", "failed");
    assertEquals(204, delete("/api/v1/jobs/" + bobs, TestAuth.admin()).status());
    assertEquals(0, jobRows(bobs));

    String anon = predict(null, upload(null, 22).getString("upload_id"), new JsonObject());
    waitFor(anon, null, 120_000, "completed", "failed");
    assertEquals(404, delete("/api/v1/jobs/" + anon, bob).status(), "a token holder does not own anonymous jobs");
    assertEquals(204, delete("/api/v1/jobs/" + anon, null).status());
    assertEquals(404, status(anon, null).status());
  }

  @Test
  void deletingAProcessingJobCancelsItFirstAndAQueuedOneBehindItToo() throws Exception {
    String token = TestAuth.token("carol");
    // Forty small images, each one model pass: the job runs for seconds, so it is caught processing, and its
    // worker stops after the current image well within the delete's wait.
    Http.Multipart form = new Http.Multipart().token(token);
    for (int i = 0; i < 40; i++) {
      form.bytes("files", "shot" + i + ".jpg", Fixtures.uniqueJpeg(1000 + i));
    }
    Http.Response up = form.post(base + "/api/v1/inference/upload");
    assertEquals(200, up.status(), up.body());
    String uploadId = up.json().getString("upload_id");
    JsonObject slow = new JsonObject().put("model", "yolov8n_int8");
    String running = predict(token, uploadId, slow);
    waitFor(running, token, 60_000, "processing");
    String queued = predict(token, uploadId, slow);
    assertEquals("queued", status(queued, token).json().getString("status"), "one worker: the second job waits");
    double cancelledBefore = metric(base, "inference_jobs_total", "status=\"cancelled\"");

    // The upload is in use by live jobs: refused, nothing removed.
    Http.Response inUse = delete("/api/v1/inference/uploads/" + uploadId, token);
    assertEquals(409, inUse.status(), inUse.body());
    assertEquals("UPLOAD_IN_USE", inUse.json().getString("code"));
    assertTrue(Files.isDirectory(service.storage().resolve("uploads").resolve(uploadId)));

    assertEquals(204, delete("/api/v1/jobs/" + queued, token).status());
    assertEquals(404, status(queued, token).status());
    long start = System.nanoTime();
    Http.Response r = delete("/api/v1/jobs/" + running, token);
    assertEquals(204, r.status(), r.body());
    assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 14_000,
        "the worker stopped after its image, before the delete's 15 s bound");
    assertEquals(404, status(running, token).status());
    assertEquals(0, jobRows(running) + jobRows(queued));
    // Both went through the cancel path (the queued one at once, the processing one by its worker).
    assertTrue(metric(base, "inference_jobs_total", "status=\"cancelled\"") >= cancelledBefore + 2,
        "two cancellations counted");
    // Nothing writes results for them afterwards: the worker stopped, and the queued delivery finds no row.
    Path results = service.storage().resolve("results");
    Await.holds("no results of the deleted jobs appear", Duration.ofSeconds(3),
        () -> !Files.exists(results.resolve(running)) && !Files.exists(results.resolve(queued)));

    // Now no live job uses the upload: it goes, rows and files.
    assertEquals(204, delete("/api/v1/inference/uploads/" + uploadId, token).status());
    assertEquals(0, service.count("SELECT count(*) FROM uploads WHERE upload_id = '" + uploadId + "'"));
    assertEquals(0, service.count("SELECT count(*) FROM uploaded_files WHERE upload_id = '" + uploadId + "'"));
    assertFalse(Files.exists(service.storage().resolve("uploads").resolve(uploadId)));
  }

  @Test
  void deletingAnUploadRemovesItAndTheFinishedJobsThatUsedIt() throws Exception {
    String token = TestAuth.token("dave");
    String uploadId = upload(token, 31).getString("upload_id");
    String jobId = predict(token, uploadId, new JsonObject());
    waitFor(jobId, token, 120_000, "completed", "failed");
    assertEquals(404, delete("/api/v1/inference/uploads/" + uploadId, TestAuth.token("eve")).status(),
        "someone else's upload is not found");
    Http.Response unknown = delete("/api/v1/inference/uploads/3f5e0c8a-0000-4000-8000-000000000000", token);
    assertEquals(404, unknown.status());
    assertEquals("UPLOAD_NOT_FOUND", unknown.json().getString("code"));

    assertEquals(204, delete("/api/v1/inference/uploads/" + uploadId, token).status());
    assertEquals(0, service.count("SELECT count(*) FROM uploads WHERE upload_id = '" + uploadId + "'"));
    assertEquals(0, jobRows(jobId), "the finished job's results pointed at the upload's files");
    assertFalse(Files.exists(service.storage().resolve("uploads").resolve(uploadId)));
    assertFalse(Files.exists(service.storage().resolve("results").resolve(jobId)));
    assertEquals(404, status(jobId, token).status());
    // An unused upload (no job at all) is deleted too.
    String unused = upload(token, 32).getString("upload_id");
    assertEquals(204, delete("/api/v1/inference/uploads/" + unused, token).status());
    assertEquals(0, service.count("SELECT count(*) FROM uploads WHERE upload_id = '" + unused + "'"));
  }

  @Test
  void theSweepRemovesFinishedJobsAndUnusedUploadsOlderThanTheRetentionAndCountsThem() throws Exception {
    String token = TestAuth.token("frank");
    String usedUpload = upload(token, 41).getString("upload_id");
    String finished = predict(token, usedUpload, new JsonObject());
    waitFor(finished, token, 120_000, "completed", "failed");
    String unusedUpload = upload(token, 42).getString("upload_id");
    Retention retention = service.app().retention();
    double jobsBefore = metric(base, "osprey_retention_removed_total", "kind=\"job\"");
    double uploadsBefore = metric(base, "osprey_retention_removed_total", "kind=\"upload\"");

    Retention.Removed none = retention.sweep(Duration.ofDays(1)).toCompletionStage().toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    assertEquals(new Retention.Removed(0, 0), none, "nothing is a day old yet");
    assertEquals(1, jobRows(finished));

    Retention.Removed removed = retention.sweep(Duration.ZERO).toCompletionStage().toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    assertTrue(removed.jobs() >= 1 && removed.uploads() >= 2, removed.toString());
    assertEquals(0, jobRows(finished));
    assertEquals(0, service.count("SELECT count(*) FROM uploads WHERE upload_id IN ('" + usedUpload + "', '"
        + unusedUpload + "')"), "the job's upload is unused once the job is gone, so it goes in the same sweep");
    assertFalse(Files.exists(service.storage().resolve("results").resolve(finished)));
    assertFalse(Files.exists(service.storage().resolve("uploads").resolve(unusedUpload)));
    assertEquals(jobsBefore + removed.jobs(), metric(base, "osprey_retention_removed_total", "kind=\"job\""));
    assertEquals(uploadsBefore + removed.uploads(),
        metric(base, "osprey_retention_removed_total", "kind=\"upload\""));
  }

  @Test
  void belowTheDiskGuardUploadsAndCreatesGet507ReadinessNamesDiskAndTheSweepRunsEarly() throws Exception {
    // An old finished job and an old unused upload, backdated past the default 30 days of retention.
    String token = TestAuth.token("grace");
    String oldUpload = upload(token, 51).getString("upload_id");
    String oldJobUpload = upload(token, 52).getString("upload_id");
    String oldJob = predict(token, oldJobUpload, new JsonObject());
    waitFor(oldJob, token, 120_000, "completed", "failed");
    String freshUpload = upload(token, 53).getString("upload_id");
    try (var c = service.jdbc(); var s = c.createStatement()) {
      s.executeUpdate("UPDATE jobs SET completed_at = now() - interval '40 days', failed_at = now() - interval"
          + " '40 days' WHERE job_id = '" + oldJob + "'");
      s.executeUpdate("UPDATE uploads SET created_at = now() - interval '40 days' WHERE upload_id IN ('"
          + oldUpload + "', '" + oldJobUpload + "')");
    }
    assertEquals(200, Http.get(base + "/health/ready").status(), "plenty of space on the main instance");

    OspreyApp low = service.startPeer(Role.API, new JsonObject().put("storage",
        new JsonObject().put("min_free_bytes", 1L << 50).put("retention_days", 30)));
    try {
      String peer = "http://127.0.0.1:" + low.port();
      Http.Response upload = new Http.Multipart().token(token)
          .bytes("files", "a.jpg", Fixtures.uniqueJpeg(54)).post(peer + "/api/v1/inference/upload");
      assertEquals(507, upload.status(), upload.body());
      assertEquals("INSUFFICIENT_STORAGE", upload.json().getString("code"));
      assertTrue(upload.json().getJsonObject("details").getLong("free_bytes") > 0);
      Http.Response create = Http.json("POST", peer + "/annotations", TestAuth.annotator(), new JsonObject());
      assertEquals(507, create.status(), create.body());
      assertEquals("INSUFFICIENT_STORAGE", create.json().getString("code"));
      Http.Response media = new Http.Multipart().token(TestAuth.annotator())
          .bytes("file", "a.jpg", Fixtures.uniqueJpeg(55)).post(peer + "/media");
      assertEquals(507, media.status(), media.body());
      Http.Response batch = new Http.Multipart().token(TestAuth.annotator())
          .bytes("files", "a.jpg", Fixtures.uniqueJpeg(56)).post(peer + "/media/batch");
      assertEquals(507, batch.status(), batch.body());
      // Only writing new files is refused: reads still answer.
      assertEquals(404, Http.get(peer + "/api/v1/jobs/3f5e0c8a-0000-4000-8000-000000000000/status", token).status());

      Http.Response ready = Http.get(peer + "/health/ready");
      assertEquals(503, ready.status(), ready.body());
      long guardOn = System.currentTimeMillis();
      JsonArray checks = ready.json().getJsonArray("checks");
      JsonObject disk = checks.stream().map(o -> (JsonObject) o).filter(c -> c.getString("id").equals("disk"))
          .findFirst().orElseThrow(() -> new AssertionError(ready.body()));
      assertEquals("DOWN", disk.getString("status"), disk.encode());
      assertTrue(disk.encode().contains("storage.min_free_bytes"), disk.encode());
      Matcher gauge = Pattern.compile("(?m)^disk_free_bytes (\\S+)$").matcher(Http.get(peer + "/metrics").body());
      assertTrue(gauge.find() && Double.parseDouble(gauge.group(1)) > 0, "disk_free_bytes gauge");

      // The early sweep removed what is past retention, and only that.
      // The sweep deletes the job, then the uploads no live job uses.
      Await.until("the early sweep removed the old job and uploads", Duration.ofSeconds(20),
          () -> jobRows(oldJob) == 0 && service.count("SELECT count(*) FROM uploads WHERE upload_id IN ('"
              + oldUpload + "', '" + oldJobUpload + "')") == 0);
      assertEquals(0, jobRows(oldJob), "the old job was swept early");
      assertEquals(0, service.count("SELECT count(*) FROM uploads WHERE upload_id IN ('" + oldUpload + "', '"
          + oldJobUpload + "')"));
      assertEquals(1, service.count("SELECT count(*) FROM uploads WHERE upload_id = '" + freshUpload + "'"));
      System.out.printf("[fault] disk below the guard: upload, annotation create, media, media batch each answered"
          + " 507 INSUFFICIENT_STORAGE before any byte was stored; reads kept answering; readiness 503 (disk DOWN);"
          + " the early retention sweep removed the old job within %d ms of readiness reporting it%n",
          System.currentTimeMillis() - guardOn);
    } finally {
      TestService.stop(low);
    }
    // The main instance, above its guard, still takes uploads.
    upload(token, 57);
  }
}
