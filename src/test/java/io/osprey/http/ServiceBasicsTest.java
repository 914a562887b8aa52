package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Health, metrics, request ids, the error shape for unknown routes, and roles, against the real servers. */
@IntegrationTest
class ServiceBasicsTest {
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(ServiceBasicsTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static Map<String, String> checkStatuses(JsonObject health) {
    JsonArray checks = health.getJsonArray("checks");
    return checks.stream().map(JsonObject.class::cast)
        .collect(Collectors.toMap(c -> c.getString("id"), c -> c.getString("status")));
  }

  @Test
  void liveAnswersUp() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/health/live");
    assertEquals(200, r.status());
    assertEquals("UP", r.json().getString("status"));
  }

  @Test
  void readyChecksPostgresRedisAndRabbitMq() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/health/ready");
    assertEquals(200, r.status(), r.body());
    assertEquals(Map.of("postgres", "UP", "redis", "UP", "rabbitmq", "UP", "rabbitmq_stream", "UP", "model", "UP",
        "disk", "UP"),
        checkStatuses(waitReady(service.baseUrl())));
  }

  /** The worker role's model check turns UP once its default model has loaded. */
  private static JsonObject waitReady(String base) throws Exception {
    return Await.until("ready (200 from /health/ready)", Duration.ofSeconds(10),
        () -> Http.get(base + "/health/ready"), r -> r.status() == 200).json();
  }

  @Test
  void readySaysWhichServerIsDown() throws Exception {
    // Real servers for PostgreSQL, a closed port for Redis and RabbitMQ: readiness must name exactly those two.
    JsonObject broken = new JsonObject()
        .put("redis", new JsonObject().put("port", 1))
        .put("rabbitmq", new JsonObject().put("port", 2).put("stream_port", 3))
        .put("health", new JsonObject().put("check_timeout_ms", 1000));
    try (TestService degraded = TestService.start(ServiceBasicsTest.class, Role.API, broken)) {
      Http.Response r = Http.get(degraded.baseUrl() + "/health/ready");
      assertEquals(503, r.status(), r.body());
      assertEquals(Map.of("postgres", "UP", "redis", "DOWN", "rabbitmq", "DOWN", "rabbitmq_stream", "DOWN", "disk", "UP"),
          checkStatuses(r.json()));
      JsonObject redis = r.json().getJsonArray("checks").stream().map(JsonObject.class::cast)
          .filter(c -> c.getString("id").equals("redis")).findFirst().orElseThrow();
      assertEquals("127.0.0.1:1", redis.getJsonObject("data").getString("target"));
      assertNotNull(redis.getJsonObject("data").getString("error"));
      assertEquals(200, Http.get(degraded.baseUrl() + "/health/live").status());
    }
  }

  @Test
  void workerWhoseDefaultModelCannotLoadIsNotReadyAndSaysWhy() throws Exception {
    try (TestService broken = TestService.start(ServiceBasicsTest.class, Role.WORKER,
        new JsonObject().put("models", new JsonObject().put("default", "no_such_model")))) {
      Http.Response r = Await.until("the model check says the model file does not exist", Duration.ofSeconds(5),
          () -> Http.get(broken.baseUrl() + "/health/ready"), x -> x.body().contains("does not exist"));
      assertEquals(503, r.status(), r.body());
      assertEquals("DOWN", checkStatuses(r.json()).get("model"));
      assertTrue(r.body().contains("no_such_model.onnx"), r.body());
    }
  }

  @Test
  void metricsCountRequestsByEndpointAndStatus() throws Exception {
    Http.get(service.baseUrl() + "/health/live");
    Http.get(service.baseUrl() + "/no/such/route");
    Http.Response r = Http.get(service.baseUrl() + "/metrics");
    assertEquals(200, r.status());
    assertTrue(r.header("Content-Type").startsWith("text/plain"), r.header("Content-Type"));
    assertTrue(r.body().contains("api_requests_total{endpoint=\"/health/live\",method=\"GET\",status=\"200\"}"),
        r.body());
    assertTrue(r.body().contains("api_requests_total{endpoint=\"unmatched\",method=\"GET\",status=\"404\"}"));
    assertTrue(r.body().contains("api_request_duration_seconds_bucket"));
    assertTrue(r.body().contains("vertx_http_server_requests_total"));
    assertTrue(r.body().contains("vertx_http_server_response_time_seconds"));
  }

  @Test
  void requestIdIsEchoedOrGenerated() throws Exception {
    Http.Response given = Http.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(service.baseUrl() + "/health/live")).header("X-Request-Id", "abc-123").build());
    assertEquals("abc-123", given.header("X-Request-Id"));
    Http.Response generated = Http.get(service.baseUrl() + "/health/live");
    assertNotNull(generated.header("X-Request-Id"));
    Http.Response hostile = Http.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(service.baseUrl() + "/health/live")).header("X-Request-Id", "a b<script>").build());
    assertFalse(hostile.header("X-Request-Id").contains("<"));
  }

  @Test
  void unknownRouteAndWrongMethodUseTheErrorShape() throws Exception {
    Http.Response missing = Http.get(service.baseUrl() + "/api/v1/nothing");
    assertEquals(404, missing.status());
    assertEquals("NOT_FOUND", missing.json().getString("code"));
    assertEquals("NOT_FOUND", missing.json().getJsonObject("error").getString("code"));
    assertEquals(missing.header("X-Request-Id"), missing.json().getString("request_id"));

    Http.Response wrongMethod = Http.get(service.baseUrl() + "/api/v1/inference/upload");
    assertEquals(405, wrongMethod.status(), wrongMethod.body());
    assertEquals("METHOD_NOT_ALLOWED", wrongMethod.json().getString("code"));
  }

  @Test
  void workerRoleServesHealthButNotTheApi() throws Exception {
    try (TestService worker = TestService.start(ServiceBasicsTest.class, Role.WORKER, new JsonObject())) {
      assertEquals("UP", checkStatuses(waitReady(worker.baseUrl())).get("model"));
      assertEquals(200, Http.get(worker.baseUrl() + "/metrics").status());
      Http.Response upload = new Http.Multipart().bytes("files", "a.png", new byte[] {1}).post(
          worker.baseUrl() + "/api/v1/inference/upload");
      assertEquals(404, upload.status());
    }
  }
}
