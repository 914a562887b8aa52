package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A detection job with create_annotations turns each image's results into an annotation via the create path. */
@IntegrationTest
class JobAnnotationsTest {
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(JobAnnotationsTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void jobResultsBecomeAnnotationsWithOutboxRowsAndFiles() throws Exception {
    Path terrain = Fixtures.realImages().stream().filter(p -> p.getFileName().toString().equals("terrain1.jpg"))
        .findFirst().orElseThrow();
    String base = service.baseUrl();
    JsonObject upload = Jobs.upload(base, List.of(terrain));
    JsonObject config = new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
        .put("create_annotations", true).put("flight_id", "job-flight").put("waypoint_id", "wp-7");
    String jobId = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", config)).json().getJsonObject("data").getString("job_id");
    JsonObject done = Jobs.waitFor(base, jobId, 120_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encode());
    JsonObject summary = done.getJsonObject("summary") != null ? done.getJsonObject("summary")
        : done.getJsonObject("data", new JsonObject()).getJsonObject("summary");
    int detections = summary.getInteger("total_detections");
    assertTrue(detections > 0, "terrain1 has people in it");
    assertEquals(1, summary.getInteger("annotations_created"));

    JsonObject page = Http.get(base + "/annotations?flightId=job-flight", TestAuth.annotator()).json();
    assertEquals(1, page.getInteger("totalCount"));
    JsonObject a = page.getJsonArray("items").getJsonObject(0);
    assertEquals("AI", a.getString("source"));
    assertEquals("wp-7", a.getString("waypointId"));
    assertEquals(jobId, a.getString("jobId"));
    assertEquals("terrain1.jpg", a.getString("name"));
    assertEquals("complete", a.getString("filesState"));
    assertEquals(detections, a.getJsonArray("detections").size());
    JsonObject first = a.getJsonArray("detections").getJsonObject(0);
    assertTrue(first.getDouble("centerX") > 0 && first.getDouble("centerX") < 1);
    assertEquals(1, service.count("SELECT count(*) FROM annotation_outbox WHERE operation = 'Created'"));
    assertEquals(200, Http.bytes(base + "/annotations/" + a.getString("id") + "/thumbnail",
        TestAuth.annotator()).statusCode());
    assertTrue(service.storedFiles().stream().anyMatch(f -> f.startsWith("uploads/")), "the upload stays in place");

    // The same photo again: the job completes and keeps the annotation that exists.
    String again = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", config)).json().getJsonObject("data").getString("job_id");
    assertEquals("completed", Jobs.waitFor(base, again, 120_000, "completed", "failed").getString("status"));
    assertEquals(1, service.count("SELECT count(*) FROM annotations"));
  }
}
