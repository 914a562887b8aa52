package io.osprey.jobs;

import io.osprey.testing.IntegrationTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.FailingGpu;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A completed job's status summary says where its inference ran, through HTTP against the real services: on this
 * CPU machine as it is, and on a "GPU" that fails on purpose ({@link FailingGpu}: ONNX Runtime's CPU provider
 * computes, the failures of CUDA are injected), for each rung of the recovery ladder.
 */
@IntegrationTest
class JobDeviceSummaryTest {
  /** One tile per image (no slicing), so the n-th CUDA run is the n-th image's. */
  private static final JsonObject WHOLE_IMAGES = new JsonObject().put("enabled", false);

  private static JsonObject run(String base, String model, List<Path> images) throws Exception {
    JsonObject upload = Jobs.upload(base, images);
    List<String> fileIds = new ArrayList<>();
    upload.getJsonArray("files").forEach(f -> fileIds.add(((JsonObject) f).getString("file_id")));
    Http.Response accepted = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("file_ids", new JsonArray(fileIds))
        .put("config", new JsonObject().put("model", model).put("sahi", WHOLE_IMAGES).put("visualization", false)));
    assertEquals(202, accepted.status(), accepted.body());
    String jobId = accepted.json().getJsonObject("data").getString("job_id");
    JsonObject done = Jobs.waitFor(base, jobId, 120_000, "completed", "failed");
    assertEquals("completed", done.getString("status"), done.encodePrettily());
    return done.getJsonObject("summary");
  }

  private static Path image(String name) {
    return Fixtures.imagesDir().resolve(name);
  }

  @Test
  void aJobOnThisCpuMachineReportsDeviceCpu() throws Exception {
    Models.assumePresent();
    try (TestService service = TestService.start(JobDeviceSummaryTest.class)) {
      JsonObject summary = run(service.baseUrl(), "yolov8n_int8", List.of(image("bus.jpg"), image("zidane.jpg")));
      assertEquals("cpu", summary.getString("device"), summary.encode());
      assertEquals(new JsonObject().put("cpu", 2), summary.getJsonObject("images_by_device"));
      assertTrue(summary.getLong("total_detections") > 0, summary.encode());
    }
  }

  @Test
  void everyRungOfTheLadderShowsInTheSummary() throws Exception {
    Models.assumePresent();
    FailingGpu gpu = new FailingGpu();
    try (TestService service = TestService.start(JobDeviceSummaryTest.class, Role.ALL, new JsonObject(), gpu)) {
      String base = service.baseUrl();
      List<Path> two = List.of(image("bus.jpg"), image("zidane.jpg"));

      JsonObject healthy = run(base, "yolov8n_int8", two);
      assertEquals("cuda", healthy.getString("device"), healthy.encode());
      assertEquals(new JsonObject().put("cuda", 2), healthy.getJsonObject("images_by_device"));

      // The first image runs on CUDA; from the second on, the GPU has no memory: that image goes to CPU.
      gpu.oomAfter(1);
      JsonObject mixed = run(base, "yolov8n_int8", two);
      assertEquals("mixed", mixed.getString("device"), mixed.encode());
      assertEquals(new JsonObject().put("cpu", 1).put("cuda", 1), mixed.getJsonObject("images_by_device"));
      assertEquals(healthy.getLong("total_detections"), mixed.getLong("total_detections"),
          "the same detections wherever an image ran");
      gpu.oomFromRun = Integer.MAX_VALUE;

      // A model that CUDA cannot load (a model not loaded yet in this process) is loaded on CPU.
      gpu.failCudaLoad = true;
      JsonObject fellBack = run(base, "yolo11n_int8_320", two);
      assertEquals("cpu", fellBack.getString("device"), fellBack.encode());
      assertEquals(new JsonObject().put("cpu", 2), fellBack.getJsonObject("images_by_device"));
      assertTrue(gpu.opens().containsAll(List.of("CUDA", "CPU")), gpu.opens().toString());
    }
  }
}
