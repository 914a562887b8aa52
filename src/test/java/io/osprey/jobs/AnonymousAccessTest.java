package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What callers without a token may do with auth.inference_api=optional (the default): upload, predict, and read a
 * job whose id they hold; never list jobs, since every anonymous job has the same owner.
 */
@IntegrationTest
class AnonymousAccessTest {
  private static TestService service;
  private static String base;
  private static String anonymousJob;
  private static String anonymousFile;
  private static String aliceJob;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(AnonymousAccessTest.class);
    base = service.baseUrl();
    JsonObject upload = new Http.Multipart().bytes("files", "anon.jpg", Fixtures.uniqueJpeg(901))
        .post(base + "/api/v1/inference/upload").json();
    anonymousFile = upload.getJsonArray("files").getJsonObject(0).getString("file_id");
    anonymousJob = accept(null, upload.getString("upload_id"));
    String alice = TestAuth.token("alice");
    JsonObject aliceUpload = new Http.Multipart().token(alice).bytes("files", "alice.jpg", Fixtures.uniqueJpeg(902))
        .post(base + "/api/v1/inference/upload").json();
    aliceJob = accept(alice, aliceUpload.getString("upload_id"));
    Jobs.waitFor(base, anonymousJob, 60_000, "completed");
    // Alice's job is finished too before the tests (and the service's close) begin.
    Await.until("alice's job completes", Duration.ofSeconds(60), () -> "completed".equals(
        Http.get(base + "/api/v1/jobs/" + aliceJob + "/status", alice).json().getString("status")));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static String accept(String token, String uploadId) throws Exception {
    Http.Response r = Http.json("POST", base + "/api/v1/inference/predict", token, new JsonObject()
        .put("upload_id", uploadId).put("config", new JsonObject().put("model", "yolov8n_int8")));
    assertEquals(202, r.status(), r.body());
    return r.json().getJsonObject("data").getString("job_id");
  }

  private static List<String> listed(String token) throws Exception {
    Http.Response r = Http.get(base + "/api/v1/jobs?page_size=100", token);
    assertEquals(200, r.status(), r.body());
    return r.json().getJsonArray("jobs").stream().map(j -> ((JsonObject) j).getString("job_id")).toList();
  }

  @Test
  void listingJobsWithoutATokenIs401SayingATokenIsNeeded() throws Exception {
    for (String query : List.of("", "?status=completed", "?page=1&page_size=100", "?status=bogus")) {
      Http.Response r = Http.get(base + "/api/v1/jobs" + query);
      assertEquals(401, r.status(), query + ": " + r.body());
      assertEquals("UNAUTHORIZED", r.json().getString("code"));
      assertTrue(r.json().getString("message").contains("token is needed to list jobs"), r.body());
      assertEquals("Bearer", r.header("WWW-Authenticate"));
      assertFalse(r.body().contains(anonymousJob));
    }
  }

  @Test
  void aJobIdIsACapabilityAnonymousHoldersReadEverythingOfThatJob() throws Exception {
    String job = base + "/api/v1/jobs/" + anonymousJob;
    assertEquals("completed", Http.get(job + "/status").json().getString("status"));
    for (String format : List.of("json", "coco", "yolo")) {
      assertEquals(200, Http.get(job + "/results?format=" + format).status(), format);
    }
    JsonArray visualizations = Http.get(job + "/visualization").json().getJsonArray("visualizations");
    assertEquals(anonymousFile, visualizations.getJsonObject(0).getString("file_id"));
    for (String key : List.of("original_url", "annotated_url", "thumbnail_url")) {
      assertEquals(200, Http.bytes(base + visualizations.getJsonObject(0).getString(key), null).statusCode(), key);
    }
    Http.Response events = Http.send(HttpRequest.newBuilder(URI.create(job + "/events"))
        .timeout(Duration.ofSeconds(20)).GET().build());
    assertEquals(200, events.status());
    assertTrue(events.body().contains("completed"), events.body());
  }

  @Test
  void tokenCallersListOnlyTheirOwnJobsAndAdmAll() throws Exception {
    assertEquals(List.of(aliceJob), listed(TestAuth.token("alice")));
    assertEquals(List.of(), listed(TestAuth.token("bob")));
    List<String> all = listed(TestAuth.admin());
    assertTrue(all.containsAll(List.of(aliceJob, anonymousJob)), all.toString());
    // A token's job is not readable anonymously, even by id: it belongs to its subject.
    assertEquals(404, Http.get(base + "/api/v1/jobs/" + aliceJob + "/status").status());
  }

  @Test
  void aListFilterOutsideTheDocumentedEnumOrRangeIs400NamingTheParameter() throws Exception {
    for (String[] c : List.of(new String[] {"?status=done", "status"}, new String[] {"?page_size=101", "page_size"},
        new String[] {"?page=0", "page"}, new String[] {"?page=99999999999", "page"})) {
      Http.Response r = Http.get(base + "/api/v1/jobs" + c[0], TestAuth.token("alice"));
      assertEquals(400, r.status(), c[0] + ": " + r.body());
      assertEquals("INVALID_REQUEST", r.json().getString("code"));
      assertEquals(c[1], r.json().getJsonArray("errors").getJsonObject(0).getString("field"), r.body());
    }
  }

  @Test
  void noOtherRouteShowsAnonymousCallersTheIdsOfJobsOrFiles() throws Exception {
    for (String path : List.of("/api/v1/monitoring/dashboard", "/metrics", "/health/ready", "/openapi.yaml")) {
      Http.Response r = Http.get(base + path);
      assertFalse(r.body().contains(anonymousJob) || r.body().contains(aliceJob)
          || r.body().contains(anonymousFile), path);
    }
    // Annotation routes (where a job with create_annotations leaves its results) need a token.
    for (String path : List.of("/annotations", "/annotations/events", "/media/" + anonymousFile)) {
      assertEquals(401, Http.get(base + path).status(), path);
    }
  }
}
