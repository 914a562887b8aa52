package io.osprey.hostile;

import io.osprey.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.function.IntPredicate;
import java.util.zip.CRC32;

/**
 * Malformed requests as a hostile client writes them: broken multipart bodies, broken JSON, broken HTTP framing,
 * poisoned strings and query parameters, and seeded random byte mutations of valid requests. Every case is raw bytes,
 * sent as they are. Deterministic: the same seed gives the same cases, so a failure names a reproducible case.
 */
final class HostileCases {
  /** One request to send, and which statuses are acceptable for it (never a 5xx, never silence). */
  record Case(String name, String route, byte[] request, IntPredicate acceptable, String expected) {
  }

  private static final IntPredicate ANY_4XX_OR_OK = s -> s >= 200 && s < 500;
  private static final String CRLF = "\r\n";

  private final String token;
  private final byte[] jpeg;
  private final Random random;
  private final List<Case> cases = new ArrayList<>();
  private int seq;

  private final String idPrefix;

  /** {@code idPrefix} starts every case's X-Request-Id, so the access log lines of one pass can be told apart. */
  HostileCases(String token, byte[] jpeg, long seed, String idPrefix) {
    this.idPrefix = idPrefix;
    this.token = token;
    this.jpeg = jpeg;
    this.random = new Random(seed);
  }

  List<Case> all() {
    multipart();
    json();
    protocol();
    queries();
    mutations(160);
    return cases;
  }

  // ---------------------------------------------------------------- building blocks

  /** The routes that take multipart bodies, with the name of their file part and any fields they need. */
  private record FormRoute(String path, String filePart, String fieldName, String fieldValue) {
  }

  private static final String ANNOTATION = "{\"flightId\":\"h\",\"source\":\"Manual\",\"detections\":[{\"classNum\":0,"
      + "\"label\":\"car\",\"centerX\":0.5,\"centerY\":0.5,\"width\":0.1,\"height\":0.1}]}";

  private static final List<FormRoute> FORM_ROUTES = List.of(
      new FormRoute("/api/v1/inference/upload", "files", null, null),
      new FormRoute("/annotations", "image", "annotation", ANNOTATION),
      new FormRoute("/media", "file", "flightId", "h"),
      new FormRoute("/media/batch", "files", "waypointId", "w1"));

  private byte[] request(String method, String path, String contentType, byte[] body, String... extraHeaders) {
    StringBuilder h = new StringBuilder();
    h.append(method).append(' ').append(path).append(" HTTP/1.1").append(CRLF)
        .append("Host: 127.0.0.1").append(CRLF)
        .append("X-Request-Id: ").append(idPrefix).append(++seq).append(CRLF)
        .append("Authorization: Bearer ").append(token).append(CRLF)
        .append("Connection: close").append(CRLF);
    if (contentType != null) {
      h.append("Content-Type: ").append(contentType).append(CRLF);
    }
    boolean framed = false;
    for (String x : extraHeaders) {
      h.append(x).append(CRLF);
      String lower = x.toLowerCase();
      framed |= lower.startsWith("content-length:") || lower.startsWith("transfer-encoding:");
    }
    if (!framed && body != null) {
      h.append("Content-Length: ").append(body.length).append(CRLF);
    }
    h.append(CRLF);
    return concat(h.toString().getBytes(StandardCharsets.ISO_8859_1), body == null ? new byte[0] : body);
  }

  private void add(String name, String route, byte[] request) {
    cases.add(new Case(name, route, request, ANY_4XX_OR_OK, "2xx-4xx"));
  }

  private void add(String name, String route, byte[] request, IntPredicate acceptable, String expected) {
    cases.add(new Case(name, route, request, acceptable, expected));
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String repeat(char c, int n) {
    return String.valueOf(c).repeat(n);
  }

  /** The route's own field part (the annotation JSON, a flight or waypoint id), when it has one. */
  private static void fieldPart(ByteArrayOutputStream out, String boundary, FormRoute r) {
    if (r.fieldName() != null) {
      out.writeBytes(ascii("--" + boundary + CRLF + "Content-Disposition: form-data; name=\"" + r.fieldName() + "\""
          + CRLF + CRLF));
      out.writeBytes(utf8(r.fieldValue()));
      out.writeBytes(ascii(CRLF));
    }
  }

  /** A well-formed form body: optional field part, then {@code files} file parts. */
  private static byte[] form(String boundary, FormRoute r, int files, byte[] file, String fileName) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    fieldPart(out, boundary, r);
    for (int i = 0; i < files; i++) {
      out.writeBytes(ascii("--" + boundary + CRLF + "Content-Disposition: form-data; name=\"" + r.filePart()
          + "\"; filename=\"" + fileName + "\"" + CRLF + "Content-Type: image/jpeg" + CRLF + CRLF));
      out.writeBytes(file);
      out.writeBytes(ascii(CRLF));
    }
    out.writeBytes(ascii("--" + boundary + "--" + CRLF));
    return out.toByteArray();
  }

  /** One part with the given raw header block (without the blank line) and data, inside a correct form. */
  private static byte[] formWithPart(String boundary, FormRoute r, byte[] partHeaders, byte[] data, boolean close) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    fieldPart(out, boundary, r);
    out.writeBytes(ascii("--" + boundary + CRLF));
    out.writeBytes(partHeaders);
    out.writeBytes(ascii(CRLF + CRLF));
    out.writeBytes(data);
    out.writeBytes(ascii(CRLF));
    if (close) {
      out.writeBytes(ascii("--" + boundary + "--" + CRLF));
    }
    return out.toByteArray();
  }

  private static byte[] fileHeaders(FormRoute r, String fileName) {
    return utf8("Content-Disposition: form-data; name=\"" + r.filePart() + "\"; filename=\"" + fileName + "\""
        + CRLF + "Content-Type: image/jpeg");
  }

  // ---------------------------------------------------------------- image bombs and broken images

  static byte[] pngDeclaring(int width, int height) {
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height)
        .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    // A tiny zlib stream of zeros: valid, and far too short for the declared size.
    byte[] idat = {0x78, (byte) 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01};
    return concat(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a},
        chunk("IHDR", ihdr.array()), chunk("IDAT", idat), chunk("IEND", new byte[0]));
  }

  private static byte[] chunk(String type, byte[] data) {
    CRC32 crc = new CRC32();
    crc.update(ascii(type));
    crc.update(data);
    return ByteBuffer.allocate(12 + data.length).putInt(data.length).put(ascii(type)).put(data)
        .putInt((int) crc.getValue()).array();
  }

  /** A real JPEG whose SOF0 is rewritten to declare another size. */
  static byte[] jpegDeclaring(byte[] jpeg, int width, int height) {
    byte[] copy = jpeg.clone();
    for (int i = 2; i + 9 < copy.length; i++) {
      if ((copy[i] & 0xff) == 0xff && ((copy[i + 1] & 0xff) == 0xc0 || (copy[i + 1] & 0xff) == 0xc2)) {
        copy[i + 5] = (byte) (height >> 8);
        copy[i + 6] = (byte) height;
        copy[i + 7] = (byte) (width >> 8);
        copy[i + 8] = (byte) width;
        return copy;
      }
    }
    throw new IllegalStateException("no SOF marker in the fixture JPEG");
  }

  /** Little-endian TIFF with one strip, declaring the given size. */
  static byte[] tiffDeclaring(int width, int height) {
    ByteBuffer b = ByteBuffer.allocate(8 + 2 + 6 * 12 + 4 + 16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(8);
    b.putShort((short) 6);
    int dataOffset = 8 + 2 + 6 * 12 + 4;
    entry(b, 256, 4, width);
    entry(b, 257, 4, height);
    entry(b, 258, 3, 8);
    entry(b, 262, 3, 1);
    entry(b, 273, 4, dataOffset);
    entry(b, 279, 4, 16);
    b.putInt(0);
    return b.array();
  }

  private static void entry(ByteBuffer b, int tag, int type, int value) {
    b.putShort((short) tag).putShort((short) type).putInt(1);
    if (type == 3) {
      b.putShort((short) value).putShort((short) 0);
    } else {
      b.putInt(value);
    }
  }

  // ---------------------------------------------------------------- multipart

  private void multipart() {
    byte[] small = jpeg;
    for (FormRoute r : FORM_ROUTES) {
      String b = "hostile" + r.filePart();
      String ct = "multipart/form-data; boundary=" + b;
      String p = r.path();
      add("no boundary parameter", p, request("POST", p, "multipart/form-data", form(b, r, 1, small, "a.jpg")));
      add("boundary differs from the body's", p, request("POST", p, "multipart/form-data; boundary=other",
          form(b, r, 1, small, "a.jpg")));
      add("empty boundary", p, request("POST", p, "multipart/form-data; boundary=", form(b, r, 1, small, "a.jpg")));
      String longB = repeat('b', 300);
      add("boundary of 300 characters", p, request("POST", p, "multipart/form-data; boundary=" + longB,
          form(longB, r, 1, small, "a.jpg")));
      add("body of garbage without boundaries", p, request("POST", p, ct, randomBytes(4096)));
      add("empty body", p, request("POST", p, ct, new byte[0]));
      add("only the closing boundary", p, request("POST", p, ct, ascii("--" + b + "--" + CRLF)));
      add("part without Content-Disposition", p, request("POST", p, ct,
          formWithPart(b, r, ascii("Content-Type: image/jpeg"), small, true)));
      add("garbage part header line", p, request("POST", p, ct,
          formWithPart(b, r, concat(new byte[] {1, 2, 3, (byte) 0xff, ':', ' ', 0, 7}, ascii(CRLF),
              fileHeaders(r, "a.jpg")), small, true)));
      add("part header without a colon", p, request("POST", p, ct,
          formWithPart(b, r, concat(ascii("this is not a header" + CRLF), fileHeaders(r, "a.jpg")), small, true)));
      add("part header of 100 KB", p, request("POST", p, ct, formWithPart(b, r,
          concat(ascii("X-Junk: " + repeat('j', 100 * 1024) + CRLF), fileHeaders(r, "a.jpg")), small, true)));
      StringBuilder many = new StringBuilder();
      for (int i = 0; i < 2000; i++) {
        many.append("X-H").append(i).append(": v").append(CRLF);
      }
      add("2000 part headers", p, request("POST", p, ct,
          formWithPart(b, r, concat(ascii(many.toString()), fileHeaders(r, "a.jpg")), small, true)));
      for (int n : new int[] {300, 1025, 5000, 100_000}) {
        add("file name of " + n + " characters", p, request("POST", p, ct,
            form(b, r, 1, small, repeat('n', n - 4) + ".jpg")));
      }
      add("NUL in the file name", p, request("POST", p, ct, form(b, r, 1, small, "a\u0000b.jpg")));
      add("control characters in the file name", p, request("POST", p, ct, form(b, r, 1, small, "a\u0001\u001b[31m.jpg")));
      add("invalid UTF-8 in the file name", p, request("POST", p, ct, formWithPart(b, r,
          concat(ascii("Content-Disposition: form-data; name=\"" + r.filePart() + "\"; filename=\"a"),
              new byte[] {(byte) 0xc3, 0x28, (byte) 0xff}, ascii(".jpg\"")), small, true)));
      add("encoded surrogate in the file name", p, request("POST", p, ct, formWithPart(b, r,
          concat(ascii("Content-Disposition: form-data; name=\"" + r.filePart() + "\"; filename=\"a"),
              new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, ascii(".jpg\"")), small, true)));
      add("path traversal in the file name", p, request("POST", p, ct, form(b, r, 1, small, "../../../etc/x.jpg")));
      add("empty file name", p, request("POST", p, ct, form(b, r, 1, small, "")));
      add("RFC 5987 file name", p, request("POST", p, ct, formWithPart(b, r, ascii("Content-Disposition: form-data;"
          + " name=\"" + r.filePart() + "\"; filename*=UTF-8''%00%ED%A0%80.jpg"), small, true)));
      add("part without a name", p, request("POST", p, ct, formWithPart(b, r,
          ascii("Content-Disposition: form-data; filename=\"a.jpg\""), small, true)));
      add("Content-Transfer-Encoding base64", p, request("POST", p, ct, formWithPart(b, r,
          concat(fileHeaders(r, "a.jpg"), ascii(CRLF + "Content-Transfer-Encoding: base64")),
          Base64.getMimeEncoder().encode(small), true)));
      add("Content-Transfer-Encoding quoted-printable", p, request("POST", p, ct, formWithPart(b, r,
          concat(fileHeaders(r, "a.txt"), ascii(CRLF + "Content-Transfer-Encoding: quoted-printable")),
          ascii("a=3Db=\r\nc"), true)));
      add("missing closing boundary", p, request("POST", p, ct,
          formWithPart(b, r, fileHeaders(r, "a.jpg"), small, false)));
      byte[] whole = form(b, r, 1, small, "a.jpg");
      add("body cut inside the part headers", p, request("POST", p, ct,
          java.util.Arrays.copyOf(whole, RawHttp.indexOf(whole, ascii("Content-Type: image/jpeg")) + 7)));
      add("body cut inside the file", p, request("POST", p, ct, java.util.Arrays.copyOf(whole, whole.length / 2)));
      add("LF-only line endings", p, request("POST", p, ct,
          new String(whole, StandardCharsets.ISO_8859_1).replace("\r\n", "\n").getBytes(StandardCharsets.ISO_8859_1)));
      add("nested multipart/mixed part", p, request("POST", p, ct, formWithPart(b, r,
          ascii("Content-Disposition: form-data; name=\"" + r.filePart() + "\"" + CRLF
              + "Content-Type: multipart/mixed; boundary=inner"),
          concat(ascii("--inner" + CRLF + "Content-Disposition: file; filename=\"a.jpg\"" + CRLF + CRLF), small,
              ascii(CRLF + "--inner--")), true)));
      for (int n : new int[] {101, 257, 300}) {
        add(n + " file parts", p, request("POST", p, ct, form(b, r, n, small, "a.jpg")));
      }
      StringBuilder fields = new StringBuilder();
      for (int i = 0; i < 3000; i++) {
        fields.append("--").append(b).append(CRLF).append("Content-Disposition: form-data; name=\"f").append(i)
            .append("\"").append(CRLF).append(CRLF).append("v").append(CRLF);
      }
      fields.append("--").append(b).append("--").append(CRLF);
      add("3000 field parts", p, request("POST", p, ct, ascii(fields.toString())));
      add("zero-byte file", p, request("POST", p, ct, form(b, r, 1, new byte[0], "a.jpg")));
      add("random bytes named .jpg", p, request("POST", p, ct, form(b, r, 1, randomBytes(5000), "a.jpg")));
      add("PNG declaring 20000x20000", p, request("POST", p, ct, form(b, r, 1, pngDeclaring(20000, 20000), "a.png")));
      add("JPEG declaring 20000x20000", p, request("POST", p, ct,
          form(b, r, 1, jpegDeclaring(small, 20000, 20000), "a.jpg")));
      add("TIFF declaring 100000x100000", p, request("POST", p, ct,
          form(b, r, 1, tiffDeclaring(100000, 100000), "a.tif")));
      add("JPEG cut after its header", p, request("POST", p, ct,
          form(b, r, 1, java.util.Arrays.copyOf(small, small.length / 3), "a.jpg")));
      add("1 MB preamble of garbage", p, request("POST", p, ct, concat(randomAscii(1 << 20), ascii(CRLF), whole)));
      add("epilogue of garbage", p, request("POST", p, ct, concat(whole, randomBytes(2048))));
      add("duplicate Content-Disposition", p, request("POST", p, ct, formWithPart(b, r,
          concat(fileHeaders(r, "a.jpg"), ascii(CRLF + "Content-Disposition: form-data; name=\"x\"")), small, true)));
      add("text/html part holding an image", p, request("POST", p, ct, formWithPart(b, r,
          ascii("Content-Disposition: form-data; name=\"" + r.filePart() + "\"; filename=\"a.html\"" + CRLF
              + "Content-Type: text/html"), small, true)));
      add("duplicate boundary parameters", p, request("POST", p, ct + "; boundary=second; charset=\u00ff\u00fe",
          whole));
      add("field name with NUL and UTF-8", p, request("POST", p, ct, formWithPart(b, r,
          utf8("Content-Disposition: form-data; name=\"\u0000\u00e9\u4e2d\""), ascii("v"), true)));
      if (r.fieldName() != null) {
        FormRoute poisoned = new FormRoute(p, r.filePart(), r.fieldName(), "a\u0000b\ud800");
        add("NUL and a lone surrogate in the " + r.fieldName() + " field", p, request("POST", p, ct,
            form(b, poisoned, 1, small, "a.jpg")));
        FormRoute notJson = new FormRoute(p, r.filePart(), r.fieldName(), "{\"flightId\": [}");
        add("broken JSON in the " + r.fieldName() + " field", p, request("POST", p, ct,
            form(b, notJson, 1, small, "a.jpg")));
      }
    }
  }

  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    return b;
  }

  private byte[] randomAscii(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (32 + random.nextInt(95));
    }
    return b;
  }

  // ---------------------------------------------------------------- JSON

  private record JsonRoute(String method, String path, String valid, String stringField) {
  }

  private List<JsonRoute> jsonRoutes() {
    String b64 = Base64.getEncoder().encodeToString(jpeg);
    return List.of(
        new JsonRoute("POST", "/annotations", "{\"image\":\"" + b64 + "\",\"flightId\":\"h\",\"name\":\"x.jpg\","
            + "\"source\":\"Manual\",\"detections\":[]}", "flightId"),
        new JsonRoute("POST", "/media", "{\"data\":\"" + b64 + "\",\"name\":\"x.jpg\",\"flightId\":\"h\"}", "name"),
        new JsonRoute("POST", "/api/v1/inference/predict", "{\"upload_id\":\"00000000-0000-0000-0000-000000000000\","
            + "\"config\":{\"confidence\":0.25}}", "upload_id"),
        new JsonRoute("POST", "/dataset/bulk-status", "{\"ids\":[\"x\"],\"status\":\"Validated\"}", "status"),
        new JsonRoute("PUT", "/settings/directories", "{\"imagesDir\":\"a\"}", "imagesDir"),
        new JsonRoute("POST", "/classes", "{\"id\":90,\"name\":\"thing\"}", "name"));
  }

  private void json() {
    for (JsonRoute r : jsonRoutes()) {
      String p = r.path();
      String m = r.method();
      String ct = "application/json";
      String f = r.stringField();
      String valid = r.valid();
      add("empty JSON body", p, request(m, p, ct, new byte[0]));
      add("JSON null", p, request(m, p, ct, ascii("null")));
      add("JSON array instead of object", p, request(m, p, ct, ascii("[]")));
      add("truncated JSON", p, request(m, p, ct, ascii(valid.substring(0, valid.length() / 2))));
      add("invalid UTF-8 in a string", p, request(m, p, ct, concat(ascii("{\"" + f + "\":\"a"),
          new byte[] {(byte) 0xc3, 0x28, (byte) 0xff, (byte) 0xfe}, ascii("\"}"))));
      add("escaped NUL in " + f, p, request(m, p, ct, ascii(withField(valid, f, "a\\u0000b"))));
      add("raw NUL in " + f, p, request(m, p, ct, concat(ascii("{\"" + f + "\":\"a"), new byte[] {0},
          ascii("b\"}"))));
      add("lone high surrogate in " + f, p, request(m, p, ct, ascii(withField(valid, f, "a\\ud800b"))));
      add("lone low surrogate in " + f, p, request(m, p, ct, ascii(withField(valid, f, "\\udc00"))));
      add("CESU-8 surrogate bytes in " + f, p, request(m, p, ct, concat(ascii("{\"" + f + "\":\""),
          new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, ascii("\"}"))));
      add("control characters in " + f, p, request(m, p, ct, ascii(withField(valid, f, "\\u0001\\u001b[2J"))));
      add("100000 nested arrays", p, request(m, p, ct, ascii(repeat('[', 100_000))));
      add("5000 nested objects", p, request(m, p, ct, ascii("{\"a\":".repeat(5000) + "1" + repeat('}', 5000))));
      add("number 1e999999", p, request(m, p, ct, ascii("{\"" + f + "\":1e999999,\"confidence\":1e999999}")));
      add("number of 10000 digits", p, request(m, p, ct, ascii("{\"page\":" + repeat('9', 10000) + "}")));
      add("1 MB string in " + f, p, request(m, p, ct, ascii(withField(valid, f, repeat('s', 1 << 20)))));
      add("duplicate keys", p, request(m, p, ct, ascii("{\"" + f + "\":\"a\",\"" + f + "\":\"b\"}")));
      add("byte order mark", p, request(m, p, ct, concat(new byte[] {(byte) 0xef, (byte) 0xbb, (byte) 0xbf},
          ascii(valid))));
      add("JSON sent as text/plain", p, request(m, p, "text/plain", ascii(valid)));
      add("JSON declared UTF-16", p, request(m, p, "application/json; charset=utf-16", ascii(valid)));
      add("every field the wrong type", p, request(m, p, ct, ascii("{\"" + f + "\":{\"x\":[1]},\"detections\":\"no\","
          + "\"image\":12,\"data\":false,\"config\":\"x\",\"ids\":{},\"status\":7,\"id\":\"nine\"}")));
      StringBuilder keys = new StringBuilder("{");
      for (int i = 0; i < 50_000; i++) {
        keys.append("\"k").append(i).append("\":").append(i).append(',');
      }
      keys.append("\"z\":0}");
      add("50000 keys", p, request(m, p, ct, ascii(keys.toString())));
      add("trailing garbage", p, request(m, p, ct, ascii(valid + "}}garbage")));
      add("comments", p, request(m, p, ct, ascii("/* x */" + valid)));
      add("NaN and Infinity", p, request(m, p, ct, ascii("{\"" + f + "\":NaN,\"confidence\":Infinity}")));
      add("key of 100 KB", p, request(m, p, ct, ascii("{\"" + repeat('k', 100 * 1024) + "\":1}")));
      add("Content-Length of 1 GiB, 64 KB sent", p, request(m, p, ct, randomAscii(64 * 1024),
          "Content-Length: 1073741824"), s -> s == 413, "413");
      add("chunked body of 9 MB", p, request(m, p, ct, chunked(randomAscii(9 << 20)), "Transfer-Encoding: chunked"));
    }
    String p = "/annotations";
    add("base64 image that is not base64", p, request("POST", p, "application/json",
        ascii("{\"image\":\"%%%%not base64!!\",\"flightId\":\"h\",\"detections\":[]}")));
    add("base64 PNG bomb", p, request("POST", p, "application/json", ascii("{\"image\":\""
        + Base64.getEncoder().encodeToString(pngDeclaring(20000, 20000)) + "\",\"flightId\":\"h\",\"detections\":[]}")));
    add("base64 random bytes", p, request("POST", p, "application/json", ascii("{\"image\":\""
        + Base64.getEncoder().encodeToString(randomBytes(4000)) + "\",\"flightId\":\"h\",\"detections\":[]}")));
    add("100000 detections", p, request("POST", p, "application/json", ascii(manyDetections(100_000))));
    add("detections with NaN-like values", p, request("POST", p, "application/json", ascii("{\"image\":\""
        + Base64.getEncoder().encodeToString(jpeg) + "\",\"flightId\":\"h\",\"detections\":[{\"classNum\":"
        + "99999999999,\"centerX\":-1e308,\"centerY\":\"x\",\"width\":null,\"height\":[]}]}")));
  }

  private String manyDetections(int n) {
    StringBuilder sb = new StringBuilder("{\"image\":\"" + Base64.getEncoder().encodeToString(jpeg)
        + "\",\"flightId\":\"h\",\"detections\":[");
    for (int i = 0; i < n; i++) {
      sb.append(i == 0 ? "" : ",").append("{\"classNum\":0,\"centerX\":0.5,\"centerY\":0.5,\"width\":0.1,"
          + "\"height\":0.1}");
    }
    return sb.append("]}").toString();
  }

  private static String withField(String valid, String field, String value) {
    String key = "\"" + field + "\":";
    int at = valid.indexOf(key);
    if (at < 0) {
      return "{" + key + "\"" + value + "\"," + valid.substring(1);
    }
    int start = at + key.length();
    int end = valid.charAt(start) == '"' ? valid.indexOf('"', start + 1) + 1 : valid.indexOf(',', start);
    return valid.substring(0, start) + "\"" + value + "\"" + valid.substring(end);
  }

  private static byte[] chunked(byte[] body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int off = 0; off < body.length; off += 65536) {
      int n = Math.min(65536, body.length - off);
      out.writeBytes(ascii(Integer.toHexString(n) + CRLF));
      out.write(body, off, n);
      out.writeBytes(ascii(CRLF));
    }
    out.writeBytes(ascii("0" + CRLF + CRLF));
    return out.toByteArray();
  }

  // ---------------------------------------------------------------- HTTP framing

  static final String CLOSED = "closed by the header deadline";
  private static final IntPredicate ERROR_4XX = s -> s >= 400 && s < 500;

  private void protocol() {
    String rid = "X-Request-Id: " + idPrefix + (++seq);
    add("URI of 10 KB", "*", ascii("GET /annotations?flightId=" + repeat('u', 10 * 1024) + " HTTP/1.1\r\nHost: x\r\n"
        + rid + "\r\nConnection: close\r\n\r\n"), s -> s == 414, "414");
    add("URI of 100 KB", "*", ascii("GET /" + repeat('u', 100 * 1024) + " HTTP/1.1\r\nHost: x\r\nConnection: close"
        + "\r\n\r\n"), s -> s == 414, "414");
    add("header of 20 KB", "*", ascii("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + repeat('h', 20 * 1024)
        + "\r\nConnection: close\r\n\r\n"), s -> s == 431, "431");
    StringBuilder headers = new StringBuilder();
    for (int i = 0; i < 2000; i++) {
      headers.append("X-H").append(i).append(": v\r\n");
    }
    add("2000 headers", "*", ascii("GET /health/live HTTP/1.1\r\nHost: x\r\n" + headers + "Connection: close\r\n\r\n"),
        s -> s == 431, "431");
    String post = "POST /annotations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
        + "\r\nContent-Type: application/json\r\nConnection: close\r\n";
    add("bad chunk size", "/annotations", ascii(post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ERROR_4XX, "4xx");
    add("chunk size 2^64-1", "/annotations", ascii(post + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nab"
        + "\r\n"), ERROR_4XX, "4xx");
    add("chunk without its CRLF", "/annotations", ascii(post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef0\r\n"
        + "\r\n"), ERROR_4XX, "4xx");
    add("garbage request line", "*", ascii("GARBAGE\r\n\r\n"), ERROR_4XX, "4xx");
    add("HTTP/9.9", "*", ascii("GET /health/live HTTP/9.9\r\nHost: x\r\n\r\n"), ERROR_4XX, "4xx");
    add("binary garbage", "*", concat(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00}, randomBytes(1024), ascii("\r\n\r\n")),
        ERROR_4XX, "4xx");
    add("method of 1000 characters", "*", ascii(repeat('M', 1000) + " /health/live HTTP/1.1\r\nHost: x\r\n"
        + "Connection: close\r\n\r\n"));
    add("lower-case method", "*", ascii("get /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    add("NUL in a header value", "*", concat(ascii("GET /annotations HTTP/1.1\r\nHost: x\r\nX-A: a"), new byte[] {0},
        ascii("b\r\nConnection: close\r\n\r\n")));
    add("header without a colon", "*", ascii("GET /health/live HTTP/1.1\r\nHost: x\r\nnocolon\r\nConnection: close"
        + "\r\n\r\n"));
    add("obsolete line folding", "*", ascii("GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n"
        + "Connection: close\r\n\r\n"));
    add("two different Content-Lengths", "/annotations", ascii(post + "Content-Length: 2\r\nContent-Length: 5\r\n\r\n"
        + "{}abc"), ERROR_4XX, "4xx");
    add("Content-Length and chunked together", "/annotations", ascii(post + "Content-Length: 5\r\n"
        + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), ERROR_4XX, "4xx");
    add("negative Content-Length", "/annotations", ascii(post + "Content-Length: -1\r\n\r\n{}"), ERROR_4XX, "4xx");
    add("non-numeric Content-Length", "/annotations", ascii(post + "Content-Length: abc\r\n\r\n{}"), ERROR_4XX,
        "4xx");
    add("unknown transfer coding", "/annotations", ascii(post + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n"
        + "0\r\n\r\n"));
    add("absolute-form URI of another host", "*", ascii("GET http://evil.example/annotations HTTP/1.1\r\nHost: x\r\n"
        + "Authorization: Bearer " + token + "\r\nConnection: close\r\n\r\n"));
    add("no Host header", "*", ascii("GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n"));
    add("Expect 100-continue with 1 GiB", "/annotations", ascii(post + "Expect: 100-continue\r\n"
        + "Content-Length: 1073741824\r\n\r\n"), s -> s == 413 || s == 417, "413");
    // Blank lines before a request line are ignored (RFC 9112, 2.2): no request was made, so none is answered; the
    // header deadline closes the connection.
    add("only blank lines", "*", ascii("\r\n\r\n"), s -> s == RawHttp.NO_ANSWER, CLOSED);
    add("h2c upgrade with garbage settings", "*", ascii("GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade,"
        + " HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: %%%%\r\n\r\n"));
    add("websocket upgrade on a REST route", "*", ascii("GET /annotations HTTP/1.1\r\nHost: x\r\nConnection: Upgrade"
        + "\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    add("bogus Range on a file route", "*", ascii("GET /openapi.yaml HTTP/1.1\r\nHost: x\r\nRange: bytes=9-1,zz\r\n"
        + "Connection: close\r\n\r\n"));
    add("HTTP/1.0 without headers", "*", ascii("GET /health/live HTTP/1.0\r\n\r\n"));
  }

  // ---------------------------------------------------------------- query and path parameters

  private void queries() {
    String[] values = {"%00", "a%00b", "%ff%fe", "%ed%a0%80", "%zz", "%", "%c0%80", "-1", "1e309", "99999999999999999999",
        "NaN", "%0d%0aX-Injected:%201", "'%20OR%201=1--", repeat('a', 3000)};
    String[] lists = {"/annotations?flightId=", "/annotations?page=", "/annotations?pageSize=", "/annotations?from=",
        "/annotations?status=", "/api/v1/jobs?status=", "/api/v1/jobs?limit="};
    for (String l : lists) {
      for (String v : values) {
        String path = l + v;
        add("query " + l.substring(l.indexOf('?')) + v.substring(0, Math.min(20, v.length())), l, request("GET", path,
            null, null));
      }
    }
    String[] ids = {"%00", "a%00b", "%ff", "%ed%a0%80", "..%2f..%2fetc%2fpasswd", repeat('i', 2000), "%zz", "%2e%2e"};
    String[] items = {"/annotations/", "/media/", "/media/%s/file", "/api/v1/jobs/%s/status",
        "/api/v1/jobs/%s/results?format=coco", "/api/v1/files/%s/original", "/classes/"};
    for (String item : items) {
      for (String id : ids) {
        String path = item.contains("%s") ? item.replace("%s", id) : item + id;
        add("path id " + item + id.substring(0, Math.min(20, id.length())), item, request("GET", path, null, null));
      }
    }
  }

  // ---------------------------------------------------------------- random mutations of valid requests

  private void mutations(int count) {
    List<byte[]> bodies = new ArrayList<>();
    List<String[]> targets = new ArrayList<>();
    for (FormRoute r : FORM_ROUTES) {
      String b = "mut" + r.filePart();
      bodies.add(form(b, r, 1, jpeg, "a.jpg"));
      targets.add(new String[] {r.path(), "multipart/form-data; boundary=" + b, "POST"});
    }
    for (JsonRoute r : jsonRoutes()) {
      bodies.add(ascii(r.valid()));
      targets.add(new String[] {r.path(), "application/json", r.method()});
    }
    for (int i = 0; i < count; i++) {
      int k = random.nextInt(bodies.size());
      byte[] body = bodies.get(k).clone();
      String kind;
      switch (random.nextInt(5)) {
        case 0 -> {
          kind = "bytes flipped";
          for (int j = 0; j < 1 + random.nextInt(20); j++) {
            body[random.nextInt(body.length)] = (byte) random.nextInt(256);
          }
        }
        case 1 -> {
          kind = "truncated";
          body = java.util.Arrays.copyOf(body, random.nextInt(body.length));
        }
        case 2 -> {
          kind = "garbage inserted";
          int at = random.nextInt(body.length);
          body = concat(java.util.Arrays.copyOf(body, at), randomBytes(1 + random.nextInt(512)),
              java.util.Arrays.copyOfRange(body, at, body.length));
        }
        case 3 -> {
          kind = "CRLFs removed";
          String s = new String(body, StandardCharsets.ISO_8859_1);
          int at = s.indexOf("\r\n", random.nextInt(Math.max(1, s.length())));
          body = (at < 0 ? s : s.substring(0, at) + s.substring(at + 2)).getBytes(StandardCharsets.ISO_8859_1);
        }
        default -> {
          kind = "section repeated";
          int from = random.nextInt(body.length);
          int to = Math.min(body.length, from + random.nextInt(4096));
          byte[] section = java.util.Arrays.copyOfRange(body, from, to);
          body = concat(java.util.Arrays.copyOf(body, to), section, section,
              java.util.Arrays.copyOfRange(body, to, body.length));
        }
      }
      String[] t = targets.get(k);
      add("mutation " + i + ": " + kind, t[0], request(t[2], t[0], t[1], body));
    }
  }
}
