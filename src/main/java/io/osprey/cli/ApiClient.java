package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** The CLI's HTTP side: plain JDK client, bearer token, the service's error shape turned into exit codes. */
public final class ApiClient {
  /** Exit codes of every command (README and --help list them). */
  public static final int OK = 0;
  public static final int USAGE = 2;
  public static final int NOT_FOUND = 3;
  public static final int REJECTED = 4;
  public static final int AUTH = 5;
  public static final int SERVER = 6;
  public static final int UNREACHABLE = 7;
  public static final int JOB_FAILED = 8;

  /** A failed call, with the exit code it maps to and the service's error code when there is one. */
  public static final class Failure extends RuntimeException {
    private final int exit;
    private final String code;

    public Failure(int exit, String code, String message) {
      super(message, null, false, false);
      this.exit = exit;
      this.code = code;
    }

    public int exit() {
      return exit;
    }

    public String code() {
      return code;
    }
  }

  public record Reply(int status, byte[] body, java.net.http.HttpHeaders headers) {
    public String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    public JsonObject json() {
      return new JsonObject(text());
    }
  }

  private final HttpClient http;
  private final String base;
  private final String token;

  public ApiClient(String base, String token) {
    this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5))
        .build();
    this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    this.token = token;
  }

  public String base() {
    return base;
  }

  /** Whether requests carry a bearer token. */
  public boolean hasToken() {
    return token != null && !token.isBlank();
  }

  public HttpRequest.Builder request(String path) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(path.startsWith("http") ? path : base + path))
        .timeout(Duration.ofMinutes(5));
    if (token != null && !token.isBlank()) {
      b.header("Authorization", "Bearer " + token);
    }
    return b;
  }

  public Reply get(String path) {
    return send(request(path).GET().build());
  }

  public Reply json(String method, String path, Object body) {
    return send(request(path).header("Content-Type", "application/json").method(method, body == null
        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body.toString())).build());
  }

  /** multipart/form-data: files (streamed from disk) under {@code field}, plus text fields. */
  public Reply multipart(String path, String field, List<Path> files, List<String[]> fields) {
    String boundary = "osprey-" + UUID.randomUUID();
    List<HttpRequest.BodyPublisher> parts = new ArrayList<>();
    try {
      for (String[] f : fields) {
        parts.add(text("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f[0] + "\"\r\n\r\n" + f[1]
            + "\r\n"));
      }
      for (Path file : files) {
        parts.add(text("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\""
            + file.getFileName().toString().replace("\"", "%22") + "\"\r\nContent-Type: application/octet-stream"
            + "\r\n\r\n"));
        parts.add(HttpRequest.BodyPublishers.ofFile(file));
        parts.add(text("\r\n"));
      }
    } catch (IOException e) {
      throw new Failure(USAGE, null, "cannot read " + e.getMessage());
    }
    parts.add(text("--" + boundary + "--\r\n"));
    return send(request(path).header("Content-Type", "multipart/form-data; boundary=" + boundary)
        .POST(HttpRequest.BodyPublishers.concat(parts.toArray(HttpRequest.BodyPublisher[]::new))).build());
  }

  private static HttpRequest.BodyPublisher text(String s) {
    return HttpRequest.BodyPublishers.ofString(s, StandardCharsets.UTF_8);
  }

  /** Sends; a 4xx/5xx becomes a {@link Failure} carrying the service's code and message. */
  public Reply send(HttpRequest request) {
    Reply r = raw(request);
    if (r.status() >= 400) {
      throw failure(r.status(), r.body());
    }
    return r;
  }

  static Failure failure(int status, byte[] body) {
    String message = new String(body, StandardCharsets.UTF_8);
    String code = null;
    try {
      JsonObject e = new JsonObject(message);
      code = e.getString("code");
      message = e.getString("message", message);
    } catch (RuntimeException notJson) {
      // keep the raw text
    }
    int exit = status == 404 ? NOT_FOUND : status == 401 || status == 403 ? AUTH : status >= 500 ? SERVER : REJECTED;
    return new Failure(exit, code, "HTTP " + status + (code == null ? "" : " " + code) + ": " + message);
  }

  /**
   * A GET streamed to {@code out} through a temporary file beside it, moved into place only once the whole body
   * arrived (a cut-off download leaves no file that looks complete); {@code progress} gets the bytes so far. A
   * 4xx/5xx becomes a {@link Failure}. Answers the response headers.
   */
  public java.net.http.HttpHeaders download(String path, Path out, java.util.function.LongConsumer progress) {
    HttpResponse<java.io.InputStream> r;
    try {
      r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (ConnectException e) {
      throw new Failure(UNREACHABLE, null, "cannot reach " + base + " (" + e.getMessage() + ")");
    } catch (IOException e) {
      throw new Failure(UNREACHABLE, null, "connection to " + base + " failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Failure(SERVER, null, "interrupted");
    }
    Path tmp = null;
    try (java.io.InputStream body = r.body()) {
      if (r.statusCode() >= 400) {
        throw failure(r.statusCode(), body.readNBytes(1 << 20));
      }
      Path dir = out.toAbsolutePath().getParent();
      java.nio.file.Files.createDirectories(dir);
      tmp = java.nio.file.Files.createTempFile(dir, "." + out.getFileName(), ".part");
      try (java.io.OutputStream file = java.nio.file.Files.newOutputStream(tmp)) {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        for (int n = body.read(buffer); n >= 0; n = body.read(buffer)) {
          file.write(buffer, 0, n);
          total += n;
          progress.accept(total);
        }
      }
      java.nio.file.Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      tmp = null;
      return r.headers();
    } catch (IOException e) {
      throw new Failure(UNREACHABLE, null, "download from " + base + " cut off: " + e);
    } finally {
      if (tmp != null) {
        try {
          java.nio.file.Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // a stray .part file is all that is left
        }
      }
    }
  }

  public Reply raw(HttpRequest request) {
    try {
      HttpResponse<byte[]> r = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
      return new Reply(r.statusCode(), r.body(), r.headers());
    } catch (ConnectException e) {
      throw new Failure(UNREACHABLE, null, "cannot reach " + base + " (" + e.getMessage() + ")");
    } catch (IOException e) {
      throw new Failure(UNREACHABLE, null, "connection to " + base + " failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Failure(SERVER, null, "interrupted");
    }
  }

  /**
   * An event stream; {@code onFrame} gets (type, data) until it returns false or the stream ends. The type is the
   * {@code "type"} field of the frame's JSON (annotation, status, reset, disconnect, auth), or a frame's
   * {@code event:} name when a server still sends one.
   */
  public void events(String path, java.util.function.BiPredicate<String, String> onFrame) {
    events(path, onFrame, 0);
  }

  /** The {@code "type"} of a frame's JSON data, or "message" when it has none. */
  static String frameType(String data) {
    try {
      Object type = new io.vertx.core.json.JsonObject(data).getValue("type");
      return type instanceof String t ? t : "message";
    } catch (RuntimeException e) {
      return "message";
    }
  }

  /** As above, and the stream is closed at {@code deadlineNanos} (System.nanoTime; 0 = none) even when idle. */
  public void events(String path, java.util.function.BiPredicate<String, String> onFrame, long deadlineNanos) {
    HttpRequest request = request(path).header("Accept", "text/event-stream").timeout(Duration.ofDays(1)).GET()
        .build();
    HttpResponse<InputStream> r;
    try {
      r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    } catch (IOException e) {
      throw new Failure(UNREACHABLE, null, "cannot reach " + base + " (" + e.getMessage() + ")");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (r.statusCode() >= 400) {
      try (InputStream in = r.body()) {
        throw failure(r.statusCode(), in.readAllBytes());
      } catch (IOException e) {
        throw new Failure(SERVER, null, "HTTP " + r.statusCode());
      }
    }
    java.util.Timer closer = null;
    java.util.concurrent.atomic.AtomicBoolean closedAtDeadline = new java.util.concurrent.atomic.AtomicBoolean();
    if (deadlineNanos > 0) {
      closer = new java.util.Timer("osprey-events-deadline", true);
      InputStream body = r.body();
      closer.schedule(new java.util.TimerTask() {
        @Override
        public void run() {
          closedAtDeadline.set(true);
          try {
            body.close();
          } catch (IOException ignored) {
            // closing is all we want
          }
        }
      }, Math.max(1, (deadlineNanos - System.nanoTime()) / 1_000_000));
    }
    try (var reader = new java.io.BufferedReader(new java.io.InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
      String event = null;
      StringBuilder data = null;
      String line;
      while ((line = reader.readLine()) != null) {
        if (line.isEmpty()) {
          if (data != null && !onFrame.test(event == null ? frameType(data.toString()) : event, data.toString())) {
            return;
          }
          event = null;
          data = null;
        } else if (line.startsWith("event:")) {
          event = line.substring(6).strip();
        } else if (line.startsWith("data:")) {
          data = data == null ? new StringBuilder() : data.append('\n');
          data.append(line.substring(5).strip());
        }
      }
    } catch (IOException e) {
      if (closedAtDeadline.get()) {
        return; // closed at the deadline
      }
      throw new Failure(UNREACHABLE, null, "event stream from " + base + " broke: " + e.getMessage());
    } finally {
      if (closer != null) {
        closer.cancel();
      }
    }
  }
}
