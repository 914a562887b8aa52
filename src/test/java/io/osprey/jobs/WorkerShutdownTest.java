package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rolling restarts: a worker process stopped with SIGTERM in the middle of an image exits with status 0 and no JVM
 * crash file, having finished that image (within shutdown.grace_seconds) or stopped it at its next batch (grace
 * 0) and handed the job back; the next worker resumes after the images stored, and the job completes once with one
 * result per image. An in-process worker closed mid-inference (what a test's TestService.close does) is as safe.
 */
@IntegrationTest
class WorkerShutdownTest {
  // Smaller images first: the graceful rounds wait for the image in flight, the last worker does the big one.
  private static final List<String> IMAGES = List.of("zidane.jpg", "small-vehicles1.jpeg", "terrain2.png",
      "terrain1.jpg");
  private static TestService api;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    // The default jobs.max_deliveries (3) on purpose: this job is taken five times, and completes only because a
    // graceful hand-back releases its lease uncounted (JobRepository.handBackLease).
    api = TestService.start(WorkerShutdownTest.class, Role.API, new JsonObject());
  }

  @AfterAll
  static void stop() throws Exception {
    if (api != null) {
      api.close();
    }
  }

  @Test
  void sigtermMidInferenceExitsZeroWithoutCrashAndTheJobCompletesOnAnotherWorker() throws Exception {
    Fixtures.realImages();
    JsonObject upload = Jobs.upload(api.baseUrl(), IMAGES.stream().map(n -> Fixtures.imagesDir().resolve(n)).toList());
    // Slices smaller than the model's input: each image takes seconds of inference, so every stop lands inside one.
    String jobId = Jobs.predict(api.baseUrl(), new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
            .put("sahi", new JsonObject().put("slice_width", 512).put("slice_height", 512))))
        .json().getJsonObject("data").getString("job_id");
    Path crashDir = Files.createTempDirectory("osprey-hs-err-");
    Path cwd = Path.of("").toAbsolutePath();

    // Grace 30: the image in flight is finished, then the job handed back. Grace 0: the image stops at its next
    // batch of tiles and the job is handed back at once.
    int[] graces = {30, 0, 30};
    Set<String> owners = new HashSet<>();
    List<String> drains = new java.util.ArrayList<>();
    for (int round = 1; round <= graces.length; round++) {
      Path log = Files.createTempFile("osprey-worker-sigterm-", ".log");
      Process worker = api.spawn(Role.WORKER, Map.of("OSPREY_HTTP_PORT", "0",
          "OSPREY_SHUTDOWN_GRACE_SECONDS", Integer.toString(graces[round - 1]),
          // A JVM crash would write its report here (and nowhere else we might miss it).
          "JAVA_TOOL_OPTIONS", "-XX:ErrorFile=" + crashDir.resolve("hs_err_pid%p.log")), log);
      long before;
      try {
        awaitInference(jobId, owners, worker, log);
        before = resultCount(jobId);
        Thread.sleep(300); // not a wait: it places the SIGTERM inside the image (decoded, tiles running)
      } finally {
        worker.destroy(); // SIGTERM, as an orchestrator sends it
      }
      long termAt = System.currentTimeMillis();
      assertTrue(worker.waitFor(90, TimeUnit.SECONDS), "worker did not exit after SIGTERM\n" + Files.readString(log));
      long drainMs = System.currentTimeMillis() - termAt;
      String output = Files.readString(log);
      assertEquals(0, worker.exitValue(), "exit status after SIGTERM (round " + round + ")\n" + output);
      assertTrue(isEmpty(crashDir), "JVM crash report written in round " + round + ": " + list(crashDir) + "\n" + output);
      assertFalse(Files.exists(cwd.resolve("hs_err_pid" + worker.pid() + ".log")), "crash file in the working dir");
      assertFalse(output.contains("SIGSEGV") || output.contains("A fatal error has been detected"), output);
      assertTrue(output.contains("job " + jobId + " handed back"), "round " + round + ": " + output);
      long after = resultCount(jobId);
      if (graces[round - 1] > 0) {
        assertTrue(after > before, "round " + round + ": the image in flight was finished within the grace ("
            + before + " -> " + after + ")\n" + output);
      }
      JsonObject status = Jobs.status(api.baseUrl(), jobId);
      assertEquals("processing", status.getString("status"), "handed back, not failed: " + status.encode());
      assertTrue(after < IMAGES.size(), "the job must still have images left: " + after);
      drains.add(String.format("grace %d: exit 0 in %.1f s, results %d -> %d", graces[round - 1],
          drainMs / 1000.0, before, after));
    }

    // An in-process worker closed mid-inference with no grace: the test JVM must live on.
    OspreyApp closedMidImage = api.startPeer(Role.WORKER, new JsonObject().put("shutdown",
        new JsonObject().put("grace_seconds", 0)));
    try {
      awaitInference(jobId, owners, null, null);
      Thread.sleep(300); // not a wait for a condition: it places the close inside the image, as above
    } finally {
      TestService.stop(closedMidImage);
    }
    assertEquals("processing", Jobs.status(api.baseUrl(), jobId).getString("status"));

    OspreyApp finisher = api.startPeer(Role.WORKER, new JsonObject());
    try {
      // Generous: the remaining images take minutes on a loaded 2-core machine; a healthy run ends long before.
      JsonObject done = Jobs.waitFor(api.baseUrl(), jobId, 600_000, "completed", "failed");
      assertEquals("completed", done.getString("status"), done.encode());
      assertEquals(IMAGES.size(), done.getJsonObject("progress").getInteger("processed_images"));
      try (var c = api.jdbc(); var s = c.createStatement()) {
        try (var rs = s.executeQuery("SELECT attempts FROM jobs WHERE job_id = '" + jobId + "'")) {
          rs.next();
          assertEquals(1, rs.getInt(1), "four graceful hand-backs uncounted; only the finishing take counts");
        }
        try (var rs = s.executeQuery("SELECT count(*), count(DISTINCT file_id) FROM job_results"
            + " WHERE job_id = '" + jobId + "'")) {
          rs.next();
          assertEquals(IMAGES.size(), rs.getInt(1), "one result row per image, none duplicated");
          assertEquals(IMAGES.size(), rs.getInt(2));
        }
      }
      System.out.printf("[fault] worker SIGTERM mid-inference x%d (+1 in-process close, grace 0): %s; no crash file;"
          + " job completed on another worker, attempts 1, %d result rows, none duplicated; client saw processing,"
          + " then completed%n", graces.length, String.join("; ", drains), IMAGES.size());
    } finally {
      TestService.stop(finisher);
    }
  }

  /**
   * Waits until a worker not seen before (its lease owner not in {@code owners}) holds the job and runs inference
   * on one of its images; adds that worker to {@code owners}.
   */
  private static void awaitInference(String jobId, Set<String> owners, Process worker, Path log) throws Exception {
    long deadline = System.currentTimeMillis() + 90_000;
    while (System.currentTimeMillis() < deadline) {
      try (var c = api.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(
          "SELECT lease_owner, status, current_stage FROM jobs WHERE job_id = '" + jobId + "'")) {
        rs.next();
        String owner = rs.getString(1);
        if (owner != null && !owners.contains(owner) && "processing".equals(rs.getString(2))
            && String.valueOf(rs.getString(3)).startsWith("Running SAHI inference")) {
          owners.add(owner);
          return;
        }
      }
      if (worker != null && !worker.isAlive()) {
        throw new AssertionError("worker died before running the job\n" + Files.readString(log));
      }
      Thread.sleep(50);
    }
    throw new AssertionError("worker " + (owners.size() + 1) + " never ran inference" + (log == null ? ""
        : "\n" + Files.readString(log)));
  }

  private static long resultCount(String jobId) throws Exception {
    return api.count("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'");
  }

  private static boolean isEmpty(Path dir) throws Exception {
    try (Stream<Path> files = Files.list(dir)) {
      return files.findAny().isEmpty();
    }
  }

  private static List<String> list(Path dir) throws Exception {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).toList();
    }
  }
}
