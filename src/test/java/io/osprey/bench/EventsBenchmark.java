package io.osprey.bench;

import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Live-event delivery latency (issue 9): N concurrent SSE subscribers on GET /annotations/events, a producer
 * changing an annotation's status every 100 ms; latency = subscriber receipt − the event's {@code time} (set when
 * the change is built, just before its commit). Subscribers are non-blocking Vert.x HTTP clients in this JVM, so
 * the service and all clients share the machine's cores.
 * Usage: {@code scripts/bench-events.sh [--subscribers 100,1000,2000] [--events 30]}
 */
public final class EventsBenchmark {
  public static void main(String[] args) throws Exception {
    String counts = "100,1000,2000";
    int events = 30;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--subscribers" -> counts = args[++i];
        case "--events" -> events = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    System.out.printf("machine: %d cores, java %s; %d events per run, one every 100 ms%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), events);
    String token = TestAuth.annotator();
    String curator = TestAuth.token("bench", Permission.DATASET);
    Vertx vertx = Vertx.vertx();
    try (TestService service = TestService.start(EventsBenchmark.class, Role.API, new JsonObject())) {
      Http.Response created = Http.json("POST", service.baseUrl() + "/annotations", token, new JsonObject()
          .put("image", java.util.Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(1)))
          .put("detections", new JsonArray()));
      String id = created.json().getString("id");
      for (String c : counts.split(",")) {
        int n = Integer.parseInt(c.strip());
        HttpClient client = vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
            .setDefaultPort(service.app().port()).setKeepAlive(true), new PoolOptions().setHttp1MaxSize(n + 10));
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger open = new AtomicInteger();
        CountDownLatch connected = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
          client.request(HttpMethod.GET, "/annotations/events?mediaId=" + id)
              .compose(req -> req.putHeader("Authorization", "Bearer " + token).send())
              .onSuccess(res -> {
                open.incrementAndGet();
                connected.countDown();
                StringBuilder pending = new StringBuilder();
                res.handler(buf -> {
                  long now = System.currentTimeMillis();
                  pending.append(buf.toString());
                  int end;
                  while ((end = pending.indexOf("\n\n")) >= 0) {
                    String frame = pending.substring(0, end);
                    pending.delete(0, end + 2);
                    int data = frame.indexOf("data: ");
                    if (data >= 0) {
                      JsonObject event = new JsonObject(frame.substring(data + 6));
                      if ("annotation".equals(event.getString("type"))) {
                        latencies.add((double) (now - Instant.parse(event.getString("time")).toEpochMilli()));
                      }
                    }
                  }
                });
              }).onFailure(e -> connected.countDown());
        }
        connected.await(120, TimeUnit.SECONDS);
        Thread.sleep(1000);
        for (int e = 0; e < events; e++) {
          Http.json("PATCH", service.baseUrl() + "/dataset/" + id + "/status", curator,
              new JsonObject().put("status", e % 2 == 0 ? "Validated" : "Edited"));
          Thread.sleep(100);
        }
        long deadline = System.currentTimeMillis() + 30_000;
        while (latencies.size() < (long) open.get() * events && System.currentTimeMillis() < deadline) {
          Thread.sleep(50);
        }
        List<Double> s = new ArrayList<>(latencies);
        Collections.sort(s);
        System.out.printf("subscribers %5d (%d connected): %d deliveries of %d expected; latency p50 %.0f ms,"
            + " p99 %.0f ms, max %.0f ms%n", n, open.get(), s.size(), (long) open.get() * events,
            pct(s, 50), pct(s, 99), pct(s, 100));
        client.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        Thread.sleep(1000);
      }
    } finally {
      vertx.close();
    }
    System.exit(0);
  }

  private static double pct(List<Double> sorted, int p) {
    if (sorted.isEmpty()) {
      return Double.NaN;
    }
    int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }
}
