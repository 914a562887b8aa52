package io.osprey.jobs;

import io.osprey.testing.IntegrationTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A deployment of only worker processes recovers a dead worker's job (issue 15): no API process runs while a worker
 * is killed with SIGKILL mid-job, and the surviving worker-only process sweeps the expired lease, hands the job to
 * the broker and completes it once. The job is created through an API process on a queue of its own, which is
 * stopped before the kill; the worker that dies consumes that queue, the survivor its own, so the job can only
 * reach the survivor through the survivor's own sweep and republish.
 */
@IntegrationTest
class WorkerOnlyRecoveryTest {
  private static TestService worker;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    worker = TestService.start(WorkerOnlyRecoveryTest.class, Role.WORKER, new JsonObject());
  }

  @AfterAll
  static void stop() throws Exception {
    if (worker != null) {
      worker.close();
    }
  }

  private static String one(String sql) throws Exception {
    try (var c = worker.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  @Test
  void aWorkerOnlyDeploymentSweepsAKilledWorkersJobAndCompletesItOnce() throws Exception {
    String entryQueue = "osprey.test.entry." + UUID.randomUUID();
    OspreyApp api = worker.startPeer(Role.API, new JsonObject().put("jobs", new JsonObject().put("queue", entryQueue)));
    String jobId;
    try {
      Path terrain = Fixtures.imagesDir().resolve("terrain1.jpg");
      String url = "http://127.0.0.1:" + api.port();
      JsonObject upload = Jobs.upload(url, List.of(terrain, terrain, terrain, terrain));
      // Small slices make each 2048x1365 image take a while, so the kill lands mid-job.
      jobId = Jobs.predict(url, new JsonObject().put("upload_id", upload.getString("upload_id"))
          .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
              .put("sahi", new JsonObject().put("slice_width", 512).put("slice_height", 512))))
          .json().getJsonObject("data").getString("job_id");
      // The API publishes after it answers: it is stopped only once the broker has the job (else this job would
      // reach the survivor through its republisher, not through a dead worker's swept lease).
      long deadline = System.currentTimeMillis() + 30_000;
      while (worker.count("SELECT count(*) FROM jobs WHERE enqueued AND job_id = '" + jobId + "'") == 0) {
        assertTrue(System.currentTimeMillis() < deadline, "the API never handed the job to the broker");
        Thread.sleep(100);
      }
    } finally {
      TestService.stop(api); // from here on, only worker processes run
    }
    String where = " FROM jobs WHERE job_id = '" + jobId + "'";

    Path log = Files.createTempFile("osprey-worker-", ".log");
    // A short lease: the killed worker's lease expires, and the survivor's sweep hands the job on, within seconds.
    Process doomed = worker.spawn(Role.WORKER, Map.of("OSPREY_HTTP_PORT", "0", "OSPREY_JOBS_QUEUE", entryQueue,
        "OSPREY_JOBS_LEASE_SECONDS", "8", "OSPREY_JOBS_LEASE_RENEW_SECONDS", "2"), log);
    int processedBeforeKill;
    try {
      long deadline = System.currentTimeMillis() + 120_000;
      while (Integer.parseInt(one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'")) < 1) {
        assertTrue(System.currentTimeMillis() < deadline && doomed.isAlive(), "the doomed worker never stored an"
            + " image:\n" + Files.readString(log));
        Thread.sleep(100);
      }
    } finally {
      doomed.destroyForcibly(); // SIGKILL: no shutdown hook, no ack, no hand-back
      doomed.waitFor(30, TimeUnit.SECONDS);
    }
    long killedAt = System.currentTimeMillis();
    processedBeforeKill = Integer.parseInt(one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'"));
    assertEquals("processing", one("SELECT status" + where));
    assertTrue(processedBeforeKill >= 1 && processedBeforeKill < 4, "processed before kill: " + processedBeforeKill);

    long deadline = System.currentTimeMillis() + 600_000;
    while (!List.of("completed", "failed").contains(one("SELECT status" + where))) {
      assertTrue(System.currentTimeMillis() < deadline, "the job did not finish on the survivor");
      Thread.sleep(200);
    }
    long recoveredMs = System.currentTimeMillis() - killedAt;
    assertEquals("completed", one("SELECT status" + where), one("SELECT error::text" + where));
    assertEquals("2", one("SELECT attempts" + where), "one take killed, one that finished");
    assertEquals("1", one("SELECT lease_expiries" + where), "the dead worker's lease swept once");
    assertEquals("4", one("SELECT count(*) FROM job_results WHERE job_id = '" + jobId + "'"));
    assertEquals("4", one("SELECT count(DISTINCT file_id) FROM job_results WHERE job_id = '" + jobId + "'"),
        "one result row per image, none duplicated");

    // What a client sees, once an API process is back: the job completed with all its images.
    OspreyApp reader = worker.startPeer(Role.API, new JsonObject());
    try {
      JsonObject status = Jobs.status("http://127.0.0.1:" + reader.port(), jobId);
      assertEquals("completed", status.getString("status"), status.encode());
      assertEquals(4, status.getJsonObject("progress").getInteger("processed_images"));
    } finally {
      TestService.stop(reader);
    }
    System.out.printf("[fault] worker-only deployment, worker kill -9 mid-job: %d of 4 images stored before SIGKILL; the surviving worker-only process"
        + " swept the lease and completed the job %.1f s after the kill (lease 8 s); attempts 2, 4 results%n",
        processedBeforeKill, recoveredMs / 1000.0);
  }
}
