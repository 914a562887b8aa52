package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.annotations.AnnotationsApi;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.RawHttp;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The documented body limits with the default configuration: each JSON route takes a body of exactly its limit and
 * refuses one byte more with 413 (before reading it when Content-Length says so); a base64 image of the full
 * annotations.max_image_bytes (50 MB) gets past Jackson; a multipart 'annotation' field holds 10,000 detections.
 */
@IntegrationTest
class BodyLimitsTest {
  private static final String ANN = TestAuth.annotator();
  private static final String ADMIN = TestAuth.admin();
  private static TestService service;
  private static int port;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(BodyLimitsTest.class, Role.API, new JsonObject());
    port = service.app().port();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /** A JSON object of exactly {@code size} bytes: {"pad":"xxx…"}. */
  private static byte[] jsonOf(long size) {
    String open = "{\"pad\":\"";
    String close = "\"}";
    byte[] out = new byte[(int) size];
    Arrays.fill(out, (byte) 'x');
    System.arraycopy(open.getBytes(StandardCharsets.US_ASCII), 0, out, 0, open.length());
    System.arraycopy(close.getBytes(StandardCharsets.US_ASCII), 0, out, out.length - close.length(), close.length());
    return out;
  }

  private record Route(String method, String path, String token, long limit) {
  }

  @Test
  void everyJsonRouteTakesItsLimitAndRefusesOneByteMore() throws Exception {
    String someId = "0".repeat(32);
    List<Route> routes = List.of(
        new Route("POST", "/api/v1/inference/predict", null, 1 << 20),
        new Route("POST", "/classes", ADMIN, 1 << 20),
        new Route("PUT", "/settings/directories", ADMIN, 1 << 20),
        new Route("PATCH", "/dataset/" + someId + "/status", ADMIN, AnnotationsApi.STATUS_BODY_LIMIT),
        new Route("POST", "/dataset/bulk-status", ADMIN, AnnotationsApi.STATUS_BODY_LIMIT),
        new Route("PUT", "/annotations/" + someId, ANN, AnnotationsApi.EDIT_BODY_LIMIT));
    for (Route route : routes) {
      for (long size : new long[] {route.limit(), route.limit() + 1}) {
        byte[] body = jsonOf(size);
        String head = route.method() + " " + route.path() + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            + (route.token() == null ? "" : "\r\nAuthorization: Bearer " + route.token())
            + "\r\nContent-Length: " + body.length;
        RawHttp.Response r = RawHttp.send(port, head, body, 30_000);
        String what = route.method() + " " + route.path() + " with " + size + " bytes: " + r;
        assertTrue(r.status() > 0, what);
        if (size > route.limit()) {
          assertEquals(413, r.status(), what);
          assertEquals("PAYLOAD_TOO_LARGE", r.json().getString("code"), what);
          assertEquals(r.header("X-Request-Id"), r.json().getString("request_id"), what);
        } else {
          assertNotEquals(413, r.status(), what);
          assertTrue(r.status() < 500, what);
        }
      }
    }
  }

  @Test
  void aBase64ImageOfTheFullFiftyMegabytesGetsPastTheJsonParser() throws Exception {
    long max = service.config().longValue("annotations.max_image_bytes");
    assertEquals(50L << 20, max);
    byte[] image = new byte[(int) max];
    byte[] png = Fixtures.image("png", 64, 64);
    System.arraycopy(png, 0, image, 0, png.length);
    for (long size : new long[] {max, max + 1}) {
      String b64 = Base64.getEncoder().encodeToString(Arrays.copyOf(image, (int) size));
      byte[] body = ("{\"flightId\":\"big\",\"detections\":[],\"image\":\"" + b64 + "\"}")
          .getBytes(StandardCharsets.US_ASCII);
      RawHttp.Response r = RawHttp.post(port, "/annotations", "application/json", ANN, body, 120_000);
      String what = size + " bytes: " + r;
      if (size > max) {
        assertEquals(413, r.status(), what);
        assertEquals("PAYLOAD_TOO_LARGE", r.json().getString("code"), what);
      } else {
        // Jackson read the whole string; the image itself is then judged on its merits.
        assertNotEquals(413, r.status(), what);
        assertTrue(r.status() < 500, what);
        assertTrue(!r.body().contains("String value length"), what);
      }
    }
  }

  @Test
  void aMultipartAnnotationFieldHoldsTenThousandDetections() throws Exception {
    JsonArray detections = new JsonArray();
    for (int i = 0; i < 10_000; i++) {
      detections.add(new JsonObject().put("classNum", 0).put("label", "car").put("centerX", 0.5)
          .put("centerY", 0.5).put("width", 0.01).put("height", 0.01));
    }
    JsonObject meta = new JsonObject().put("flightId", "many").put("source", "Manual").put("detections", detections);
    assertTrue(meta.encode().length() > 500_000, "far over the 8 KB that was the limit");
    Http.Response r = new Http.Multipart().token(ANN).bytes("image", "many.jpg", Fixtures.uniqueJpeg(4242))
        .field("annotation", meta.encode()).post(service.baseUrl() + "/annotations");
    assertEquals(201, r.status(), r.body().length() > 500 ? r.body().substring(0, 500) : r.body());
    assertEquals(10_000, r.json().getJsonArray("detections").size());
  }
}
