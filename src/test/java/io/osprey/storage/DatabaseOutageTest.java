package io.osprey.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.osprey.testing.SseClient;
import io.osprey.testing.TcpForwarder;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 item 8: a PostgreSQL outage gets one answer on every route, 503 DATABASE_UNAVAILABLE with Retry-After,
 * and the service recovers by itself when the database is back. The shared PostgreSQL is never stopped: a second
 * instance reaches it through a TCP forwarder in this test, and switching the forwarder off (every connection cut,
 * new ones refused) is the outage as that instance sees it.
 */
@IntegrationTest
class DatabaseOutageTest {
  private static final String ADMIN = TestAuth.admin();
  private static TestService service;
  private static TcpForwarder forwarder;
  private static OspreyApp peer;
  private static String base;
  private static String annotationId;
  private static String mediaId;
  private static String uploadId;
  private static String jobId;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(DatabaseOutageTest.class);
    forwarder = new TcpForwarder(service.config().string("postgres.host"), service.config().integer("postgres.port"));
    forwarder.on();
    // The peer runs its migrations through the forwarder at start, so it starts while the forwarder is on.
    peer = service.startPeer(Role.API, new JsonObject().put("postgres", new JsonObject()
        .put("host", "127.0.0.1").put("port", forwarder.port())));
    base = "http://127.0.0.1:" + peer.port();

    Http.Response created = createAnnotation(1);
    assertEquals(201, created.status(), created.body());
    annotationId = created.json().getString("id");
    mediaId = created.json().getString("mediaId");
    Http.Response upload = upload(2);
    assertEquals(200, upload.status(), upload.body());
    uploadId = upload.json().getString("upload_id");
    Http.Response predicted = predict();
    assertEquals(202, predicted.status(), predicted.body());
    jobId = predicted.json().getJsonObject("data").getString("job_id");
  }

  @AfterAll
  static void stop() throws Exception {
    if (forwarder != null) {
      forwarder.on();
    }
    if (peer != null) {
      TestService.stop(peer);
    }
    if (forwarder != null) {
      forwarder.close();
    }
    if (service != null) {
      service.close();
    }
  }

  /** Every request a client makes that needs the database, by name. */
  private static Map<String, Callable<Http.Response>> routes(int seed) {
    Map<String, Callable<Http.Response>> r = new LinkedHashMap<>();
    r.put("annotation list", () -> Http.get(base + "/annotations?flightId=outage&page=1&pageSize=20", ADMIN));
    r.put("annotation get", () -> Http.get(base + "/annotations/" + annotationId, ADMIN));
    r.put("annotation create", () -> createAnnotation(seed));
    r.put("media get", () -> Http.get(base + "/media/" + mediaId, ADMIN));
    r.put("dataset status", () -> Http.json("PATCH", base + "/dataset/" + annotationId + "/status", ADMIN,
        new JsonObject().put("status", "Validated")));
    r.put("settings", () -> Http.json("PUT", base + "/settings/directories", ADMIN,
        new JsonObject().put("imagesDir", "images").put("labelsDir", "labels")));
    r.put("classes", () -> Http.json("POST", base + "/classes", ADMIN,
        new JsonObject().put("id", 500 + seed).put("name", "outage-" + seed)));
    r.put("dataset export", () -> Http.get(base + "/annotations/export?format=yolo", ADMIN));
    r.put("job status", () -> Http.get(base + "/api/v1/jobs/" + UUID.randomUUID() + "/status"));
    r.put("job list", () -> Http.get(base + "/api/v1/jobs", ADMIN));
    r.put("job events", () -> Http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/jobs/"
        + UUID.randomUUID() + "/events")).timeout(Duration.ofSeconds(20)).GET().build()));
    r.put("upload", () -> upload(seed));
    r.put("predict", DatabaseOutageTest::predict);
    return r;
  }

  @Test
  void everyRouteAnswers503DatabaseUnavailableDuringAnOutageAndRecoversWithoutARestart() throws Exception {
    forwarder.off();
    long offAt = System.currentTimeMillis();
    long slowest = 0;
    int refused = 0;
    try {
      for (Map.Entry<String, Callable<Http.Response>> route : routes(10).entrySet()) {
        long started = System.nanoTime();
        Http.Response r = route.getValue().call();
        long millis = (System.nanoTime() - started) / 1_000_000;
        assertEquals(503, r.status(), route.getKey() + ": " + r.body());
        JsonObject body = r.json();
        assertEquals("DATABASE_UNAVAILABLE", body.getString("code"), route.getKey() + ": " + r.body());
        assertEquals("DATABASE_UNAVAILABLE", body.getJsonObject("error").getString("code"), route.getKey());
        assertNotNull(body.getString("request_id"), route.getKey());
        assertEquals("5", r.header("Retry-After"), route.getKey());
        assertTrue(millis < 10_000, route.getKey() + " took " + millis + " ms");
        slowest = Math.max(slowest, millis);
        refused++;
      }
      // A job read before the outage: answered from the Redis fast path (200) or, when that entry is not trusted,
      // with the outage answer; never a 500.
      Http.Response known = Http.get(base + "/api/v1/jobs/" + jobId + "/status");
      assertTrue(known.status() == 200 && known.body().contains(jobId)
          || known.status() == 503 && "DATABASE_UNAVAILABLE".equals(known.json().getString("code")), known.body());
      // The annotation event stream reads Redis, not PostgreSQL: it stays open through a database outage.
      try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=outage", ADMIN, null)) {
        assertEquals(200, sse.status());
      }
    } finally {
      forwarder.on();
    }
    long onAt = System.currentTimeMillis();

    // Back: the same instance answers normally, with no restart (the pool connects again on its next acquisition).
    Await.until("the instance answers again once the database is back", Duration.ofSeconds(15),
        () -> Http.get(base + "/annotations/" + annotationId, ADMIN), r -> r.status() == 200);
    long recoveredMs = System.currentTimeMillis() - onAt;
    Map<String, Integer> expected = Map.ofEntries(Map.entry("annotation list", 200), Map.entry("annotation get", 200),
        Map.entry("annotation create", 201), Map.entry("media get", 200), Map.entry("dataset status", 200),
        Map.entry("settings", 204), Map.entry("classes", 201), Map.entry("dataset export", 200),
        Map.entry("job status", 404),
        Map.entry("job list", 200), Map.entry("job events", 404), Map.entry("upload", 200),
        Map.entry("predict", 202));
    for (Map.Entry<String, Callable<Http.Response>> route : routes(20).entrySet()) {
      Http.Response r = route.getValue().call();
      assertEquals(expected.get(route.getKey()), r.status(), route.getKey() + ": " + r.body());
      assertFalse(r.headers().firstValue("Retry-After").isPresent(), route.getKey());
      if (route.getKey().equals("predict")) {
        // let the job finish: the service must not be closed under a running inference
        io.osprey.testing.Jobs.waitFor(base, r.json().getJsonObject("data").getString("job_id"), 60_000,
            "completed", "failed");
      }
    }
    assertEquals(200, Http.get(base + "/api/v1/jobs/" + jobId + "/status").status());
    System.out.printf("[fault] PostgreSQL stop (connections cut and refused for %.1f s) and return: %d routes each"
        + " answered 503 DATABASE_UNAVAILABLE + Retry-After 5, slowest in %d ms, nothing written; first 200 %d ms"
        + " after it was back, no restart%n", (onAt - offAt) / 1000.0, refused, slowest, recoveredMs);
  }

  @Test
  void connectionLevelFailuresAreUnavailableAndStatementErrorsAreNot() {
    assertTrue(DatabaseFailures.unavailable(new java.net.ConnectException("Connection refused")));
    assertTrue(DatabaseFailures.unavailable(io.vertx.sqlclient.ClosedConnectionException.INSTANCE));
    assertTrue(DatabaseFailures.unavailable(new RuntimeException(new java.net.SocketException("Connection reset"))));
    assertTrue(DatabaseFailures.unavailable(new io.vertx.pgclient.PgException("terminating connection due to"
        + " administrator command", "FATAL", "57P01", null)));
    assertTrue(DatabaseFailures.unavailable(new io.vertx.pgclient.PgException("x", "FATAL", "08006", null)));
    assertFalse(DatabaseFailures.unavailable(new io.vertx.pgclient.PgException("duplicate key", "ERROR", "23505",
        null)));
    assertFalse(DatabaseFailures.unavailable(new io.vertx.pgclient.PgException("syntax", "ERROR", "42601", null)));
    assertFalse(DatabaseFailures.unavailable(new IllegalStateException("bug")));
    assertFalse(DatabaseFailures.unavailable(new RuntimeException(new java.nio.file.NoSuchFileException("a.jpg"))),
        "a file error is no database outage");
  }

  private static Http.Response createAnnotation(int seed) throws Exception {
    JsonObject body = new JsonObject().put("name", "frame.jpg").put("flightId", "outage").put("waypointId", "wp-1")
        .put("source", "AI").put("image", Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(seed)))
        .put("detections", new JsonArray().add(new JsonObject().put("classNum", 0).put("label", "car")
            .put("centerX", 0.5).put("centerY", 0.5).put("width", 0.1).put("height", 0.1).put("confidence", 0.9)));
    return Http.json("POST", base + "/annotations", ADMIN, body);
  }

  private static Http.Response upload(int seed) throws Exception {
    return new Http.Multipart().bytes("files", "a.jpg", Fixtures.uniqueJpeg(1000 + seed))
        .post(base + "/api/v1/inference/upload");
  }

  private static Http.Response predict() throws Exception {
    return Http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/inference/predict"))
        .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("upload_id", uploadId)
            .put("config", new JsonObject().put("model", "yolov8n_int8")).encode()))
        .build());
  }
}
