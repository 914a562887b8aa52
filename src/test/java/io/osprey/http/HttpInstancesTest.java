package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.config.ConfigLoader;
import io.osprey.health.Readiness;
import io.osprey.metrics.Metrics;
import io.osprey.testing.UnitTest;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code http.instances}: several HTTP verticles, each with its own router and event loop, behind one port. */
@UnitTest
@Timeout(60)
class HttpInstancesTest {
  private final Metrics metrics = new Metrics();
  private final Vertx vertx = metrics.install(Vertx.builder(), new io.vertx.core.VertxOptions()).build();

  @AfterEach
  void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void instancesOnPortZeroShareOneRandomPortAndEachServesConnectionsOnItsOwnEventLoop() throws Exception {
    Readiness readiness = new Readiness(vertx, Readiness.Settings.from(ConfigLoader.load(Map.of())), null, null);
    List<HttpVerticle> created = new CopyOnWriteArrayList<>();
    HttpVerticle first = HttpVerticle.deploy(vertx, 3, () -> {
      HttpVerticle verticle = new HttpVerticle("127.0.0.1", 0, metrics, readiness,
          router -> router.get("/loop").handler(ctx -> ctx.response().end(Thread.currentThread().getName())));
      created.add(verticle);
      return verticle;
    }).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);

    assertEquals(3, created.size());
    int port = first.actualPort();
    assertTrue(port > 0);
    for (HttpVerticle instance : created) {
      assertEquals(port, instance.actualPort(), "every instance listens on the first one's port");
    }
    // A new client, so a new connection, per request: Vert.x hands accepted connections to the instances in turn.
    Set<String> loops = new HashSet<>();
    for (int i = 0; i < 12; i++) {
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
          + "/loop")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, response.statusCode());
      loops.add(response.body());
    }
    assertEquals(3, loops.size(), "connections served on " + loops);
  }
}
