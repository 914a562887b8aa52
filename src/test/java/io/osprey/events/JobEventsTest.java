package io.osprey.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.SseClient;
import io.osprey.testing.SseClient.Frame;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A real detection job followed through GET /api/v1/jobs/{id}/events to its completion. */
@IntegrationTest
class JobEventsTest {
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(JobEventsTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void jobEventsFollowARealJobToCompletionAndEnd() throws Exception {
    String base = service.baseUrl();
    Path terrain = Fixtures.realImages().stream().filter(p -> p.getFileName().toString().equals("terrain1.jpg"))
        .findFirst().orElseThrow();
    JsonObject upload = Jobs.upload(base, List.of(terrain, terrain, terrain));
    String jobId = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", new JsonObject().put("model", "yolov8n_int8").put("visualization", false)))
        .json().getJsonObject("data").getString("job_id");
    List<Frame> frames = new ArrayList<>();
    try (SseClient sse = SseClient.open(base + "/api/v1/jobs/" + jobId + "/events", null, null)) {
      assertEquals(200, sse.status());
      long end = System.currentTimeMillis() + 120_000;
      while (System.currentTimeMillis() < end) {
        Frame f = sse.next(1000);
        if (f != null) {
          frames.add(f);
          if (List.of("completed", "failed", "cancelled").contains(new JsonObject(f.data()).getString("status"))) {
            break;
          }
        }
      }
      Await.until("the stream ends after the terminal status", Duration.ofSeconds(5), sse::ended);
    }
    Frame last = frames.get(frames.size() - 1);
    JsonObject done = new JsonObject(last.data());
    assertEquals("completed", done.getString("status"), frames.toString());
    assertTrue(frames.stream().allMatch(f -> f.event().equals("message") && "status".equals(f.type())),
        "default-type frames (EventSource.onmessage) of type status: " + frames);
    assertEquals(jobId, done.getString("job_id"));
    assertTrue(done.encode().contains("total_detections"), "completion carries the summary");
    assertTrue(frames.stream().anyMatch(f -> "processing".equals(new JsonObject(f.data()).getString("status"))
        && new JsonObject(f.data()).getJsonObject("progress") != null), "per-image progress arrives: " + frames);
    assertEquals(404, Http.get(base + "/api/v1/jobs/" + UUID.randomUUID() + "/events").status());
    assertEquals("JOB_NOT_FOUND", Http.get(base + "/api/v1/jobs/nope/events").json().getString("code"));
  }
}
