package io.osprey.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.util.List;

/** Client-side steps of the job journey, as a desktop client performs them. */
public final class Jobs {
  private Jobs() {
  }

  public static JsonObject upload(String baseUrl, List<Path> images) throws Exception {
    Http.Multipart form = new Http.Multipart();
    for (Path p : images) {
      form.file("files", p.getFileName().toString(), p);
    }
    Http.Response r = form.post(baseUrl + "/api/v1/inference/upload");
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  public static Http.Response predict(String baseUrl, JsonObject body) throws Exception {
    return Http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/api/v1/inference/predict"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.encode()))
        .build());
  }

  public static Http.Response post(String url) throws Exception {
    return Http.send(HttpRequest.newBuilder(URI.create(url)).POST(HttpRequest.BodyPublishers.noBody()).build());
  }

  public static JsonObject status(String baseUrl, String jobId) throws Exception {
    Http.Response r = Http.get(baseUrl + "/api/v1/jobs/" + jobId + "/status");
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  /** Polls like the spec's client (but faster) until the job is in one of the wanted states. */
  public static JsonObject waitFor(String baseUrl, String jobId, long timeoutMs, String... states) throws Exception {
    long deadline = System.currentTimeMillis() + timeoutMs;
    JsonObject last = null;
    while (System.currentTimeMillis() < deadline) {
      last = status(baseUrl, jobId);
      for (String s : states) {
        if (s.equals(last.getString("status"))) {
          return last;
        }
      }
      Thread.sleep(100);
    }
    fail("job " + jobId + " did not reach " + List.of(states) + " in " + timeoutMs + " ms; last " + last);
    return last;
  }
}
