package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A worker process killed with SIGKILL in the middle of a job: its lease on the job expires, the maintenance sweep
 * hands the job to the broker again, another worker resumes after the images already stored, and the job
 * completes exactly once.
 */
@IntegrationTest
class WorkerCrashTest {
  private static TestService api;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    api = TestService.start(WorkerCrashTest.class, Role.API, new JsonObject());
  }

  @AfterAll
  static void stop() throws Exception {
    if (api != null) {
      api.close();
    }
  }

  @Test
  void jobSurvivesItsWorkerBeingKilledAndCompletesOnce() throws Exception {
    Path terrain = Fixtures.imagesDir().resolve("terrain1.jpg");
    JsonObject upload = Jobs.upload(api.baseUrl(), List.of(terrain, terrain, terrain, terrain));
    // Small slices make each 2048x1365 image take a while, so the kill lands mid-job.
    String jobId = Jobs.predict(api.baseUrl(), new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
            .put("sahi", new JsonObject().put("slice_width", 320).put("slice_height", 320))))
        .json().getJsonObject("data").getString("job_id");

    Path log = Files.createTempFile("osprey-worker-", ".log");
    // A short lease: the killed worker's lease expires, and the sweep hands the job on, within seconds.
    Process worker = api.spawn(Role.WORKER, java.util.Map.of("OSPREY_HTTP_PORT", "0",
        "OSPREY_JOBS_LEASE_SECONDS", "8", "OSPREY_JOBS_LEASE_RENEW_SECONDS", "2"), log);
    try {
      JsonObject status = Await.until("the worker processed a first image", Duration.ofSeconds(120), () -> {
        if (!worker.isAlive()) {
          throw new AssertionError("the worker died\n" + Files.readString(log));
        }
        return Jobs.status(api.baseUrl(), jobId);
      }, s -> s.getJsonObject("progress").getInteger("processed_images") >= 1);
      assertEquals("processing", status.getString("status"), status.encode() + "\n" + Files.readString(log));
      assertTrue(status.getJsonObject("progress").getInteger("processed_images") < 4, status.encode());
    } finally {
      worker.destroyForcibly(); // SIGKILL: no shutdown hook, no ack, no goodbye
      worker.waitFor(30, TimeUnit.SECONDS);
    }
    int processedBeforeKill;
    try (var c = api.jdbc(); var s = c.createStatement();
         var rs = s.executeQuery("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'")) {
      rs.next();
      processedBeforeKill = rs.getInt(1);
    }
    assertTrue(processedBeforeKill >= 1 && processedBeforeKill < 4, "processed before kill: " + processedBeforeKill);

    long killedAt = System.currentTimeMillis();
    OspreyApp replacement = api.startPeer(Role.WORKER, new JsonObject());
    try {
      // Generous: the remaining images take minutes on a loaded 2-core machine; a healthy run ends long before.
      JsonObject done = Jobs.waitFor(api.baseUrl(), jobId, 600_000, "completed", "failed");
      assertEquals("completed", done.getString("status"), done.encode());
      assertEquals(4, done.getJsonObject("progress").getInteger("processed_images"));
      try (var c = api.jdbc(); var s = c.createStatement()) {
        try (var rs = s.executeQuery("SELECT attempts FROM jobs WHERE job_id = '" + jobId + "'")) {
          rs.next();
          assertEquals(2, rs.getInt(1), "one attempt killed, one that finished");
        }
        try (var rs = s.executeQuery("SELECT count(*), count(DISTINCT file_id) FROM job_results"
            + " WHERE job_id = '" + jobId + "'")) {
          rs.next();
          assertEquals(4, rs.getInt(1), "one result row per image, none duplicated");
          assertEquals(4, rs.getInt(2));
        }
      }
      List<String> predictions = new ArrayList<>();
      try (var files = Files.list(api.storage().resolve("results").resolve(jobId).resolve("predictions"))) {
        files.forEach(p -> predictions.add(p.getFileName().toString()));
      }
      assertEquals(4, predictions.size(), predictions.toString());
      assertTrue(predictions.stream().allMatch(n -> n.endsWith(".txt")), "no partial files left: " + predictions);
      // The summary counts the detections of both attempts' images: what PostgreSQL and the label files hold.
      long total = done.getJsonObject("summary").getLong("total_detections");
      try (var c = api.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(
          "SELECT coalesce(sum(detection_count), 0) FROM job_results WHERE job_id = '" + jobId + "'")) {
        rs.next();
        assertEquals(rs.getLong(1), total, "summary against job_results");
      }
      long labelLines = 0;
      for (String name : predictions) {
        labelLines += Files.readAllLines(api.storage().resolve("results").resolve(jobId).resolve("predictions")
            .resolve(name)).stream().filter(l -> !l.isBlank()).count();
      }
      assertEquals(labelLines, total, "summary against the label files written");
      System.out.printf("[fault] worker kill -9 mid-job: %d of 4 images stored before SIGKILL; job completed %.1f s"
          + " after the kill (lease 8 s), attempts 2, 4 result rows, none duplicated; client saw processing, then"
          + " completed%n", processedBeforeKill, (System.currentTimeMillis() - killedAt) / 1000.0);
    } finally {
      TestService.stop(replacement);
    }
  }
}
