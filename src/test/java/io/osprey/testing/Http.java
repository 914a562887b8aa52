package io.osprey.testing;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
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

/**
 * A plain JDK HTTP client, deliberately not Vert.x: the tests talk to the service the way an outside client does.
 */
public final class Http {
  private static final HttpClient CLIENT = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5))
      .version(HttpClient.Version.HTTP_1_1)
      .build();

  private Http() {
  }

  public record Response(int status, String body, java.net.http.HttpHeaders headers) {
    public JsonObject json() {
      return new JsonObject(body);
    }

    public String header(String name) {
      return headers.firstValue(name).orElse(null);
    }
  }

  public static Response get(String url) throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(URI.create(url)).GET().timeout(Duration.ofSeconds(30)).build());
  }

  public static Response get(String url, String token) throws IOException, InterruptedException {
    return send(request(url, token).GET().build());
  }

  /** A JSON request ({@code body} null for none) with a bearer token (null for none). */
  public static Response json(String method, String url, String token, Object body)
      throws IOException, InterruptedException {
    HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofString(body instanceof JsonObject o ? o.encode()
            : body instanceof io.vertx.core.json.JsonArray a ? a.encode() : body.toString(), StandardCharsets.UTF_8);
    HttpRequest.Builder b = request(url, token).method(method, publisher);
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    return send(b.build());
  }

  public static HttpResponse<byte[]> bytes(String url, String token) throws IOException, InterruptedException {
    return CLIENT.send(request(url, token).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  public static HttpRequest.Builder request(String url, String token) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return b;
  }

  public static Response send(HttpRequest request) throws IOException, InterruptedException {
    HttpResponse<String> r = CLIENT.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    return new Response(r.statusCode(), r.body(), r.headers());
  }

  /** multipart/form-data with one part per file, streamed from disk. */
  public static final class Multipart {
    private final String boundary = "osprey-" + UUID.randomUUID();
    private final List<HttpRequest.BodyPublisher> parts = new ArrayList<>();
    private String token;

    public Multipart token(String bearer) {
      this.token = bearer;
      return this;
    }

    public Multipart file(String field, String filename, Path content) throws IOException {
      parts.add(text("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\""
          + filename.replace("\"", "%22") + "\"\r\nContent-Type: application/octet-stream\r\n\r\n"));
      parts.add(HttpRequest.BodyPublishers.ofFile(content));
      parts.add(text("\r\n"));
      return this;
    }

    public Multipart bytes(String field, String filename, byte[] content) {
      parts.add(text("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\""
          + filename.replace("\"", "%22") + "\"\r\nContent-Type: application/octet-stream\r\n\r\n"));
      parts.add(HttpRequest.BodyPublishers.ofByteArray(content));
      parts.add(text("\r\n"));
      return this;
    }

    public Multipart field(String name, String value) {
      parts.add(text("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n"
          + value + "\r\n"));
      return this;
    }

    public Response post(String url) throws IOException, InterruptedException {
      List<HttpRequest.BodyPublisher> all = new ArrayList<>(parts);
      all.add(text("--" + boundary + "--\r\n"));
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url))
          .timeout(Duration.ofMinutes(2))
          .header("Content-Type", "multipart/form-data; boundary=" + boundary)
          .POST(HttpRequest.BodyPublishers.concat(all.toArray(HttpRequest.BodyPublisher[]::new)));
      if (token != null) {
        request.header("Authorization", "Bearer " + token);
      }
      return send(request.build());
    }

    private static HttpRequest.BodyPublisher text(String s) {
      return HttpRequest.BodyPublishers.ofString(s, StandardCharsets.UTF_8);
    }
  }
}
