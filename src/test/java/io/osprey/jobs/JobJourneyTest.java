package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The spec's whole journey through HTTP against real PostgreSQL, Redis and RabbitMQ and a real model: upload,
 * predict, poll, results in three formats, visualizations and the images behind them.
 */
@IntegrationTest
class JobJourneyTest {
  private static TestService service;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(JobJourneyTest.class);
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void aerialImagesGoFromUploadToAnnotatedResults() throws Exception {
    JsonObject upload = Jobs.upload(base, List.of(Fixtures.imagesDir().resolve("terrain2.png"),
        Fixtures.imagesDir().resolve("small-vehicles1.jpeg")));
    String uploadId = upload.getString("upload_id");
    List<String> fileIds = new ArrayList<>();
    upload.getJsonArray("files").forEach(f -> fileIds.add(((JsonObject) f).getString("file_id")));

    Http.Response accepted = Jobs.predict(base, new JsonObject().put("upload_id", uploadId)
        .put("file_ids", new JsonArray(fileIds))
        .put("config", new JsonObject().put("model", "yolov8n_int8").put("confidence", 0.25)
            .put("sahi", new JsonObject().put("slice_height", 512).put("slice_width", 512)
                .put("overlap_height_ratio", 0.2).put("overlap_width_ratio", 0.2))));
    assertEquals(202, accepted.status(), accepted.body());
    JsonObject body = accepted.json();
    assertEquals("accepted", body.getString("status"));
    JsonObject data = body.getJsonObject("data");
    String jobId = data.getString("job_id");
    assertEquals("queued", data.getString("status"));
    assertEquals("/api/v1/jobs/" + jobId + "/status", data.getString("status_url"));
    assertNotNull(data.getString("created_at"));

    JsonObject done = Jobs.waitFor(base, jobId, 120_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encodePrettily());
    assertEquals(new JsonObject().put("total_images", 2).put("processed_images", 2).put("percentage", 100),
        done.getJsonObject("progress"));
    JsonObject summary = done.getJsonObject("summary");
    assertTrue(summary.getLong("total_detections") >= 25, summary.encode());
    assertTrue(summary.getDouble("average_confidence") > 0.25 && summary.getDouble("average_confidence") < 1);
    assertNotNull(summary.getLong("processing_time_seconds"));
    assertEquals("/api/v1/jobs/" + jobId + "/results", done.getString("results_url"));
    assertEquals("/api/v1/jobs/" + jobId + "/visualization", done.getString("visualization_url"));
    assertNotNull(done.getString("started_at"));
    assertNotNull(done.getString("completed_at"));

    // JSON results: the spec's shape, boxes in pixels and normalised.
    Http.Response json = Http.get(base + "/api/v1/jobs/" + jobId + "/results?format=json");
    assertEquals(200, json.status(), json.body());
    JsonObject results = json.json();
    assertEquals(jobId, results.getString("job_id"));
    assertEquals("json", results.getString("format"));
    JsonArray perFile = results.getJsonArray("results");
    assertEquals(2, perFile.size());
    JsonObject vehicles = perFile.getJsonObject(1);
    assertEquals("small-vehicles1.jpeg", vehicles.getString("filename"));
    long cars = vehicles.getJsonArray("detections").stream()
        .filter(d -> ((JsonObject) d).getString("class_name").equals("car")).count();
    assertTrue(cars >= 20, "cars found with 512 slices: " + cars);
    JsonObject first = vehicles.getJsonArray("detections").getJsonObject(0);
    assertTrue(first.getJsonObject("bbox").getDouble("x2") <= 1068);
    assertTrue(first.getDouble("confidence") >= 0.25);
    long total = perFile.stream().mapToLong(f -> ((JsonObject) f).getInteger("detection_count")).sum();
    assertEquals(summary.getLong("total_detections"), total);

    // YOLO: a zip of label files with normalised lines, plus the class list.
    HttpResponse<byte[]> zip = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create(base + "/api/v1/jobs/" + jobId + "/results?format=yolo")).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, zip.statusCode());
    assertEquals("application/zip", zip.headers().firstValue("Content-Type").orElse(""));
    List<String> entries = new ArrayList<>();
    int lines = 0;
    try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip.body()))) {
      for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
        entries.add(e.getName());
        String text = new String(in.readAllBytes());
        if (e.getName().startsWith("labels/")) {
          for (String line : text.split("\n")) {
            if (!line.isBlank()) {
              String[] parts = line.trim().split(" ");
              assertEquals(6, parts.length, line);
              for (int i = 1; i < 5; i++) {
                double v = Double.parseDouble(parts[i]);
                assertTrue(v >= 0 && v <= 1, line);
              }
              lines++;
            }
          }
        }
      }
    }
    assertTrue(entries.containsAll(List.of("labels/terrain2.txt", "labels/small-vehicles1.txt", "classes.txt")),
        entries.toString());
    assertEquals(total, lines);

    // COCO detection results.
    JsonObject coco = Http.get(base + "/api/v1/jobs/" + jobId + "/results?format=coco").json();
    assertEquals(2, coco.getJsonArray("images").size());
    assertEquals(total, coco.getJsonArray("annotations").size());
    assertTrue(coco.getJsonArray("categories").stream().anyMatch(c -> ((JsonObject) c).getString("name")
        .equals("car")));

    // Visualizations and the images behind them.
    JsonObject viz = Http.get(base + "/api/v1/jobs/" + jobId + "/visualization").json();
    JsonObject v = viz.getJsonArray("visualizations").getJsonObject(0);
    assertEquals(fileIds.get(0), v.getString("file_id"));
    HttpResponse<byte[]> annotated = image(base + v.getString("annotated_url"), null);
    assertEquals(200, annotated.statusCode());
    assertEquals("image/jpeg", annotated.headers().firstValue("Content-Type").orElse(""));
    var picture = ImageIO.read(new ByteArrayInputStream(annotated.body()));
    assertEquals(1024, picture.getWidth());
    String etag = annotated.headers().firstValue("ETag").orElseThrow();
    assertEquals(304, image(base + v.getString("annotated_url"), etag).statusCode());
    var thumbnail = ImageIO.read(new ByteArrayInputStream(image(base + v.getString("thumbnail_url"), null).body()));
    assertEquals(256, Math.max(thumbnail.getWidth(), thumbnail.getHeight()));
    HttpResponse<byte[]> original = image(base + v.getString("original_url"), null);
    assertEquals("image/png", original.headers().firstValue("Content-Type").orElse(""));
    assertTrue(original.headers().firstValue("Cache-Control").orElse("").contains("immutable"));

    // The job list shows it to ADM; anonymous callers cannot list (they read a job by its id, as above).
    assertEquals(401, Http.get(base + "/api/v1/jobs?status=completed").status());
    JsonObject list = Http.get(base + "/api/v1/jobs?status=completed", io.osprey.testing.TestAuth.admin()).json();
    assertTrue(list.getJsonArray("jobs").stream().anyMatch(j -> ((JsonObject) j).getString("job_id").equals(jobId)));

    // And the metrics counted it.
    String metrics = Http.get(base + "/metrics").body();
    assertTrue(metrics.contains("inference_jobs_total{status=\"completed\"}"), metrics);
    assertTrue(metrics.contains("detection_count_total"));
    assertTrue(metrics.contains("inference_duration_seconds_count"));
    JsonObject dashboard = Http.get(base + "/api/v1/monitoring/dashboard").json();
    assertEquals(1, dashboard.getInteger("active_workers"));
    assertTrue(dashboard.getJsonObject("job_rate").getLong("completed_last_hour") >= 1);
    assertNull(dashboard.getValue("error"));
  }

  @Test
  void processingJobStopsAfterItsCurrentImageWhenCancelled() throws Exception {
    java.nio.file.Path terrain = Fixtures.imagesDir().resolve("terrain1.jpg");
    JsonObject upload = Jobs.upload(base, List.of(terrain, terrain, terrain, terrain, terrain));
    String jobId = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
            .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
                .put("sahi", new JsonObject().put("slice_width", 320).put("slice_height", 320))))
        .json().getJsonObject("data").getString("job_id");
    JsonObject processing = Jobs.waitFor(base, jobId, 60_000, "processing");
    assertNotNull(processing.getJsonObject("progress").getString("current_stage"));

    Http.Response cancel = Jobs.post(base + "/api/v1/jobs/" + jobId + "/cancel");
    assertEquals(202, cancel.status(), cancel.body());
    assertEquals(Boolean.TRUE, cancel.json().getBoolean("cancel_requested"));

    JsonObject cancelled = Jobs.waitFor(base, jobId, 60_000, "cancelled", "completed", "failed");
    assertEquals("cancelled", cancelled.getString("status"), cancelled.encode());
    assertNotNull(cancelled.getString("cancelled_at"));
    assertTrue(cancelled.getJsonObject("progress").getInteger("processed_images") < 5, cancelled.encode());
    assertEquals(409, Jobs.post(base + "/api/v1/jobs/" + jobId + "/cancel").status());
    Await.holds("terminal states never change", Duration.ofSeconds(1),
        () -> "cancelled".equals(Jobs.status(base, jobId).getString("status")));
    assertEquals("RESULTS_NOT_READY", Http.get(base + "/api/v1/jobs/" + jobId + "/results").json()
        .getString("code"));
  }

  private static HttpResponse<byte[]> image(String url, String etag) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
    if (etag != null) {
      b.header("If-None-Match", etag);
    }
    return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }
}
