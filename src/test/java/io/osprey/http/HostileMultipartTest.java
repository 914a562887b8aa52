package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.RawHttp;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Malformed and oversized multipart bodies, sent as raw bytes over a socket so that they reach the server as written:
 * each gets a 400/413 in the error shape within 5 s of its last byte, with its request id, and leaves no temp file.
 * Limits are lowered so that limit and limit+1 cases stay small.
 */
@IntegrationTest
class HostileMultipartTest {
  private static final String UPLOAD = "/api/v1/inference/upload";
  private static final String ANN = TestAuth.annotator();
  private static final int MAX_FILE = 100_000;
  private static final int MEDIA_REQUEST = 150_000;
  private static TestService service;
  private static int port;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(HostileMultipartTest.class, Role.API, new JsonObject()
        .put("uploads", new JsonObject().put("max_files", 3).put("max_file_bytes", MAX_FILE))
        .put("annotations", new JsonObject().put("max_image_bytes", MAX_FILE))
        .put("media", new JsonObject().put("max_request_bytes", MEDIA_REQUEST).put("max_files", 3))
        .put("http", new JsonObject().put("max_form_parts", 50).put("header_timeout_seconds", 2)));
    port = service.app().port();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  // ------------------------------------------------------------------ helpers

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static byte[] filePart(String field, String filename, byte[] content) {
    return concat(bytes("--B\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"" + filename
        + "\"\r\nContent-Type: application/octet-stream\r\n\r\n"), content, bytes("\r\n"));
  }

  private static byte[] field(String name, String value) {
    return concat(bytes("--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n"),
        value.getBytes(StandardCharsets.UTF_8), bytes("\r\n"));
  }

  private static final byte[] CLOSE = bytes("--B--\r\n");

  private static RawHttp.Response multipart(String path, byte[] body) throws Exception {
    return RawHttp.post(port, path, "multipart/form-data; boundary=B", path.equals(UPLOAD) ? null : ANN, body,
        20_000);
  }

  private static List<String> temps() throws Exception {
    return service.storedFiles().stream().filter(p -> p.startsWith("tmp/")).toList();
  }

  /** The answer is the error shape with this status and code, came within 5 s, and left no temp file. */
  private static JsonObject assertRefused(RawHttp.Response r, int status, String code) throws Exception {
    assertEquals(status, r.status(), r.toString());
    JsonObject body = r.json();
    assertEquals(code, body.getString("code"), r.toString());
    assertTrue(r.header("X-Request-Id") != null && !r.header("X-Request-Id").isBlank(), r.toString());
    assertEquals(r.header("X-Request-Id"), body.getString("request_id"), r.toString());
    assertTrue(r.elapsedMs() < 5000, "answered after " + r.elapsedMs() + " ms");
    assertEquals(List.of(), temps(), "temp files left behind by " + r);
    return body;
  }

  private static String annotationJson() {
    return new JsonObject().put("flightId", "f1").put("source", "Manual").put("detections",
        new io.vertx.core.json.JsonArray()).encode();
  }

  // ------------------------------------------------------------------ malformed bodies

  @Test
  void multipartWithoutABoundaryParameterIsMalformed() throws Exception {
    for (String path : List.of(UPLOAD, "/annotations", "/media")) {
      RawHttp.Response r = RawHttp.post(port, path, "multipart/form-data", path.equals(UPLOAD) ? null : ANN,
          concat(filePart("files", "a.png", Fixtures.image("png", 64, 64)), CLOSE), 20_000);
      assertRefused(r, 400, "MALFORMED_REQUEST");
    }
  }

  @Test
  void bodyWithoutTheDeclaredBoundaryIsAnsweredNotLeftHanging() throws Exception {
    for (String path : List.of(UPLOAD, "/annotations", "/media", "/media/batch")) {
      RawHttp.Response r = multipart(path, bytes("this body never mentions its boundary\r\n".repeat(100)));
      assertRefused(r, 400, "MALFORMED_REQUEST");
    }
  }

  @Test
  void aPartWithoutContentDispositionOrWithGarbageHeadersIsMalformed() throws Exception {
    byte[] image = Fixtures.image("png", 64, 64);
    byte[] noDisposition = concat(bytes("--B\r\nContent-Type: image/png\r\n\r\n"), image, bytes("\r\n"), CLOSE);
    byte[] garbage = concat(bytes("--B\r\n\u0001\u0002 garbage ::: no header at all\r\n\r\n"), image,
        bytes("\r\n"), CLOSE);
    for (String path : List.of(UPLOAD, "/annotations", "/media")) {
      for (byte[] body : List.of(noDisposition, garbage)) {
        assertRefused(multipart(path, body), 400, "MALFORMED_REQUEST");
      }
    }
  }

  @Test
  void hugePartHeadersAndHugeFileNamesAreRefused() throws Exception {
    byte[] image = Fixtures.image("png", 64, 64);
    byte[] hugeHeader = concat(bytes("--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
        + "X-Pad: " + "a".repeat(100_000) + "\r\n\r\n"), image, bytes("\r\n"), CLOSE);
    byte[] longName = concat(filePart("files", "n".repeat(5000) + ".png", image), CLOSE);
    for (String path : List.of(UPLOAD, "/annotations", "/media")) {
      assertRefused(multipart(path, hugeHeader), 400, "MALFORMED_REQUEST");
      assertRefused(multipart(path, longName), 400, "MALFORMED_REQUEST");
    }
  }

  @Test
  void aBase64TransferEncodingIsMalformed() throws Exception {
    byte[] body = concat(bytes("--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
            + "Content-Transfer-Encoding: base64\r\n\r\n"),
        bytes(Base64.getEncoder().encodeToString(Fixtures.image("png", 64, 64))), bytes("\r\n"), CLOSE);
    for (String path : List.of(UPLOAD, "/annotations", "/media")) {
      assertRefused(multipart(path, body), 400, "MALFORMED_REQUEST");
    }
  }

  @Test
  void aMissingClosingBoundaryIsAnsweredWithinSeconds() throws Exception {
    byte[] image = Fixtures.image("png", 64, 64);
    byte[] truncated = bytes("--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
        + "Content-Type: image/png\r\n\r\n");
    for (String path : List.of(UPLOAD, "/annotations", "/media", "/media/batch")) {
      RawHttp.Response r = multipart(path, concat(field("annotation", annotationJson()), truncated, image));
      assertRefused(r, 400, "MALFORMED_REQUEST");
    }
  }

  @Test
  void tooManyFilesOrPartsAreRefusedWithTooManyFiles() throws Exception {
    byte[] image = Fixtures.image("png", 64, 64);
    byte[] fourFiles = concat(filePart("files", "a.png", image), filePart("files", "b.png", image),
        filePart("files", "c.png", image), filePart("files", "d.png", image), CLOSE);
    assertRefused(multipart(UPLOAD, fourFiles), 400, "TOO_MANY_FILES");
    assertRefused(multipart("/media/batch", concat(field("waypointId", "w1"), fourFiles)), 400, "TOO_MANY_FILES");
    ByteArrayOutputStream manyFields = new ByteArrayOutputStream();
    for (int i = 0; i < 300; i++) {
      manyFields.writeBytes(field("f" + i, "v"));
    }
    manyFields.writeBytes(CLOSE);
    for (String path : List.of(UPLOAD, "/annotations", "/media/batch")) {
      assertRefused(multipart(path, manyFields.toByteArray()), 400, "TOO_MANY_FILES");
    }
  }

  @Test
  void aNulInAFileNameOrFieldIsA400NamingIt() throws Exception {
    byte[] image = Fixtures.image("png", 64, 64);
    for (String path : List.of(UPLOAD, "/media")) {
      JsonObject body = assertRefused(multipart(path, concat(filePart("files", "a\u0000b.png", image), CLOSE)), 400,
          "INVALID_REQUEST");
      assertEquals("files[0].filename", body.getJsonArray("errors").getJsonObject(0).getString("field"));
    }
    JsonObject body = assertRefused(multipart("/media", concat(field("name", "a\u0000b"),
        filePart("files", "a.png", image), CLOSE)), 400, "INVALID_REQUEST");
    assertEquals("name", body.getJsonArray("errors").getJsonObject(0).getString("field"));
  }

  // ------------------------------------------------------------------ limits at limit and limit+1

  /** A PNG padded with trailing bytes to exactly {@code size} bytes (its header is what the checks read). */
  private static byte[] imageOf(int size) throws Exception {
    byte[] png = Fixtures.image("png", 64, 64);
    byte[] out = new byte[size];
    System.arraycopy(png, 0, out, 0, png.length);
    return out;
  }

  @Test
  void uploadFilesAreBoundedAtTheirLimit() throws Exception {
    RawHttp.Response atLimit = multipart(UPLOAD, concat(filePart("files", "a.png", imageOf(MAX_FILE)), CLOSE));
    assertNotEquals("FILE_TOO_LARGE", atLimit.json().getString("code"), atLimit.toString());
    assertEquals(List.of(), temps());
    RawHttp.Response over = multipart(UPLOAD, concat(filePart("files", "a.png", imageOf(MAX_FILE + 1)), CLOSE));
    assertRefused(over, 400, "FILE_TOO_LARGE");
  }

  @Test
  void annotationImagesAreBoundedAtTheirLimitInBothForms() throws Exception {
    RawHttp.Response atLimit = multipart("/annotations", concat(field("annotation", annotationJson()),
        filePart("image", "a.png", imageOf(MAX_FILE)), CLOSE));
    assertNotEquals(413, atLimit.status(), atLimit.toString());
    assertEquals(List.of(), temps());
    assertRefused(multipart("/annotations", concat(field("annotation", annotationJson()),
        filePart("image", "a.png", imageOf(MAX_FILE + 1)), CLOSE)), 413, "PAYLOAD_TOO_LARGE");

    for (int size : new int[] {MAX_FILE, MAX_FILE + 1}) {
      byte[] json = bytes(new JsonObject(annotationJson()).put("image",
          Base64.getEncoder().encodeToString(imageOf(size))).encode());
      RawHttp.Response r = RawHttp.post(port, "/annotations", "application/json", ANN, json, 20_000);
      if (size > MAX_FILE) {
        assertRefused(r, 413, "PAYLOAD_TOO_LARGE");
      } else {
        assertNotEquals(413, r.status(), r.toString());
      }
    }
  }

  @Test
  void mediaRequestsAreBoundedAtTheirLimits() throws Exception {
    RawHttp.Response atLimit = multipart("/media", concat(filePart("files", "a.png", imageOf(MEDIA_REQUEST)),
        CLOSE));
    assertNotEquals(413, atLimit.status(), atLimit.toString());
    assertEquals(List.of(), temps());
    assertRefused(multipart("/media", concat(filePart("files", "a.png", imageOf(MEDIA_REQUEST + 1)), CLOSE)), 413,
        "PAYLOAD_TOO_LARGE");
    // JSON data is bounded by annotations.max_image_bytes once decoded.
    for (int size : new int[] {MAX_FILE, MAX_FILE + 1}) {
      byte[] json = bytes(new JsonObject().put("name", "x.png").put("data",
          Base64.getEncoder().encodeToString(imageOf(size))).encode());
      RawHttp.Response r = RawHttp.post(port, "/media", "application/json", ANN, json, 20_000);
      if (size > MAX_FILE) {
        assertRefused(r, 413, "PAYLOAD_TOO_LARGE");
      } else {
        assertNotEquals(413, r.status(), r.toString());
        assertEquals(List.of(), temps());
      }
    }
  }

  @Test
  void aJsonBodyDeclaredLargerThanItsLimitIsRefusedBeforeItIsRead() throws Exception {
    String head = "POST /media HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " + ANN
        + "\r\nContent-Length: 1073741824";
    RawHttp.Response r = RawHttp.send(port, head, bytes("{\"data\":\""), 10_000);
    assertRefused(r, 413, "PAYLOAD_TOO_LARGE");
  }

  // ------------------------------------------------------------------ the HTTP layer's own answers

  @Test
  void tooLongUrisAndTooLargeHeadersGetTheErrorShape() throws Exception {
    RawHttp.Response uri = RawHttp.send(port, "GET /annotations?x=" + "a".repeat(20_000)
        + " HTTP/1.1\r\nHost: x", null, 10_000);
    assertRefused(uri, 414, "URI_TOO_LONG");
    RawHttp.Response headers = RawHttp.send(port, "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: "
        + "a".repeat(40_000), null, 10_000);
    assertRefused(headers, 431, "HEADERS_TOO_LARGE");
  }

  @Test
  void aSlowlorisConnectionIsClosedAfterTheHeaderTimeout() throws Exception {
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      out.write(bytes("GET /health/live HTTP/1.1\r\n"));
      long start = System.nanoTime();
      boolean closed = false;
      for (int i = 0; i < 20 && !closed; i++) {
        try {
          out.write(bytes("X-" + i + ": a\r\n"));
          out.flush();
          Thread.sleep(400);
        } catch (java.io.IOException e) {
          closed = true;
        }
        if (!closed && socket.getInputStream().available() == 0) {
          socket.setSoTimeout(1);
          try {
            closed = socket.getInputStream().read() < 0;
          } catch (java.net.SocketTimeoutException stillOpen) {
            // still open
          } catch (java.io.IOException reset) {
            closed = true;
          }
          socket.setSoTimeout(10_000);
        }
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertTrue(closed, "the slow connection was still open after " + ms + " ms");
      assertTrue(ms < 4500, "closed only after " + ms + " ms (header timeout 2 s)");
    }
  }

  @Test
  void aSlowButSteadyUploadIsNotCutByTheHeaderTimeout() throws Exception {
    byte[] body = concat(filePart("files", "a.png", Fixtures.image("png", 64, 64)), CLOSE);
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(20_000);
      OutputStream out = socket.getOutputStream();
      out.write(bytes("POST " + UPLOAD + " HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
          + "Content-Length: " + body.length + "\r\n\r\n"));
      int chunk = body.length / 8 + 1;
      for (int off = 0; off < body.length; off += chunk) {
        out.write(body, off, Math.min(chunk, body.length - off));
        out.flush();
        Thread.sleep(500);
      }
      InputStream in = socket.getInputStream();
      RawHttp.Response r = RawHttp.read(in, System.nanoTime());
      assertEquals(200, r.status(), r.toString());
    }
  }

  @Test
  void nulInQueryOrPathParametersIsA400NamingThem() throws Exception {
    RawHttp.Response q = RawHttp.send(port, "GET /annotations?flightId=a%00b HTTP/1.1\r\nHost: x\r\n"
        + "Authorization: Bearer " + ANN, null, 10_000);
    JsonObject body = assertRefused(q, 400, "INVALID_REQUEST");
    assertEquals("flightId", body.getJsonArray("errors").getJsonObject(0).getString("field"));
    RawHttp.Response p = RawHttp.send(port, "GET /annotations/a%00b HTTP/1.1\r\nHost: x\r\n"
        + "Authorization: Bearer " + ANN, null, 10_000);
    assertRefused(p, 400, "INVALID_REQUEST");
  }

  @Test
  void nulAndUnpairedSurrogatesInJsonStringsAreA400NamingTheField() throws Exception {
    String nul = "{\"flightId\":\"f1\",\"name\":\"a\\u0000b\",\"mediaId\":\"x\",\"detections\":[]}";
    JsonObject body = assertRefused(RawHttp.post(port, "/annotations", "application/json", ANN, bytes(nul), 10_000),
        400, "INVALID_REQUEST");
    assertEquals("name", body.getJsonArray("errors").getJsonObject(0).getString("field"));
    String surrogate = "{\"flightId\":\"\\ud800\",\"detections\":[{\"label\":\"x\\udc00\"}]}";
    body = assertRefused(RawHttp.post(port, "/annotations", "application/json", ANN, bytes(surrogate), 10_000),
        400, "INVALID_REQUEST");
    assertEquals("flightId", body.getJsonArray("errors").getJsonObject(0).getString("field"));
    String label = "{\"classNum\":900,\"name\":\"a\\u0000\",\"color\":\"#ffffff\"}";
    RawHttp.Response cls = RawHttp.post(port, "/classes", "application/json", TestAuth.admin(), bytes(label), 10_000);
    assertRefused(cls, 400, "INVALID_REQUEST");
    String predict = "{\"upload_id\":\"x\",\"config\":{\"model\":\"a\\u0000\"}}";
    assertRefused(RawHttp.post(port, "/api/v1/inference/predict", "application/json", null, bytes(predict), 10_000),
        400, "INVALID_REQUEST");
  }

  /**
   * A chunked body Netty cannot decode makes Vert.x fail the connection; the answer is written and flushed before
   * it closes: 400 MALFORMED_REQUEST in the error shape, with the caller's request id, within 5 s.
   */
  @Test
  void aChunkedBodyThatCannotBeDecodedIsA400BeforeTheConnectionCloses() throws Exception {
    String head = "POST /annotations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
        + ANN + "\r\nX-Request-Id: bad-chunk-1\r\nTransfer-Encoding: chunked";
    for (String body : List.of("zz-not-hex\r\n{}\r\n0\r\n\r\n", "FFFFFFFFFFFFFFFF\r\nab\r\n",
        "3\r\nabcdef0\r\n\r\n")) {
      RawHttp.Response r = RawHttp.send(port, head, bytes(body), 10_000);
      assertRefused(r, 400, "MALFORMED_REQUEST");
      assertEquals("bad-chunk-1", r.header("X-Request-Id"), r.toString());
    }
    // The same on a multipart route, whose body handler is Osprey's own.
    RawHttp.Response r = RawHttp.send(port, "POST " + UPLOAD + " HTTP/1.1\r\nHost: x\r\nContent-Type: "
        + "multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked", bytes("zz\r\n--B\r\n0\r\n\r\n"), 10_000);
    assertRefused(r, 400, "MALFORMED_REQUEST");
  }

  /** A bad chunk in the middle of a file part: the answer comes at once, the partial temp file goes right after. */
  @Test
  void aBadChunkInTheMiddleOfAFileIsA400AndLeavesNoTempFile() throws Exception {
    byte[] part = concat(bytes("--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
        + "Content-Type: image/png\r\n\r\n"), Fixtures.image("png", 64, 64));
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      out.write(bytes("POST " + UPLOAD + " HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
          + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(part.length) + "\r\n"));
      out.write(part);
      out.write(bytes("\r\n"));
      out.flush();
      Thread.sleep(500);
      out.write(bytes("zz\r\nmore\r\n"));
      out.flush();
      RawHttp.Response r = RawHttp.read(socket.getInputStream(), System.nanoTime());
      assertEquals(400, r.status(), r.toString());
      assertEquals("MALFORMED_REQUEST", r.json().getString("code"), r.toString());
      assertEquals(r.header("X-Request-Id"), r.json().getString("request_id"), r.toString());
    }
    Await.until("the partial temp file is deleted", Duration.ofSeconds(2), () -> temps().isEmpty());
  }

  /** Vert.x would answer 501 with an empty body to an HTTP version it does not know. */
  @Test
  void anUnknownHttpVersionIsA400InTheErrorShape() throws Exception {
    RawHttp.Response r = RawHttp.send(port, "GET /health/live HTTP/9.9\r\nHost: x\r\nX-Request-Id: v99", null,
        10_000);
    assertRefused(r, 400, "MALFORMED_REQUEST");
    assertEquals("v99", r.header("X-Request-Id"));
  }

  /** vertx-web would fail it before any handler, so without a request id. */
  @Test
  void anHttp11RequestWithoutHostIsA400InTheErrorShape() throws Exception {
    RawHttp.Response r = RawHttp.send(port, "GET /health/live HTTP/1.1\r\nConnection: close", null, 10_000);
    assertRefused(r, 400, "MALFORMED_REQUEST");
    RawHttp.Response ten = RawHttp.send(port, "GET /health/live HTTP/1.0", null, 10_000);
    assertEquals(200, ten.status(), ten.toString());
  }
}
