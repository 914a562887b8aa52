package io.osprey.bench;

import io.osprey.testing.Fixtures;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;

/**
 * Annotation creates per second and their latency (issue 7): POST /annotations with a ~200 KB aerial JPEG (base64)
 * and 5 detections, closed loop with C concurrent HTTP/1.1 clients on loopback, against a real service in this JVM
 * on the real PostgreSQL. Every request carries a different image (a unique JPEG comment segment), so each one is
 * a real create: hash, stage, transaction with outbox row, image + label + thumbnail written after commit.
 * Usage: {@code scripts/bench-annotations.sh [--clients 1,4,16] [--seconds S]}
 */
public final class AnnotationsBenchmark {
  public static void main(String[] args) throws Exception {
    String clientsArg = "1,4,16";
    int seconds = 10;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--clients" -> clientsArg = args[++i];
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    byte[] base = jpegNear(200_000);
    System.out.printf("machine: %d cores, java %s; image %d bytes (terrain1.jpg scaled), 5 detections, %d s per run%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), base.length, seconds);
    JsonArray detections = new JsonArray();
    for (int i = 0; i < 5; i++) {
      detections.add(new JsonObject().put("classNum", i).put("label", "class" + i).put("centerX", 0.1 + i * 0.15)
          .put("centerY", 0.5).put("width", 0.05).put("height", 0.05).put("confidence", 0.8));
    }
    String token = TestAuth.annotator();
    AtomicInteger unique = new AtomicInteger();
    try (TestService service = TestService.start(AnnotationsBenchmark.class)) {
      String url = service.baseUrl() + "/annotations";
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      // Warm-up: JIT, pool connections, OpenCV natives.
      run(client, url, token, base, detections, unique, 2, 3);
      for (String c : clientsArg.split(",")) {
        int clients = Integer.parseInt(c.strip());
        long cpu0 = processCpuNanos();
        Result r = run(client, url, token, base, detections, unique, clients, seconds);
        long cpu = processCpuNanos() - cpu0;
        System.out.printf("clients %3d: %7.1f creates/s  p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms  (%d ok, %d failed)%n",
            clients, r.ok / (double) seconds, r.pct(50), r.pct(99), r.pct(100), r.ok, r.failed);
        // This JVM's CPU (service, load clients, GC, JIT) per create; PostgreSQL's own work is not in it.
        System.out.printf("  cpu per create: %.2f ms (this JVM: service and clients)%n",
            r.ok == 0 ? Double.NaN : cpu / 1e6 / r.ok);
      }
      System.out.printf("rows: %d annotations, %d outbox rows%n", service.count("SELECT count(*) FROM annotations"),
          service.count("SELECT count(*) FROM annotation_outbox"));
    }
    System.exit(0);
  }

  /** CPU time of this process so far (-1 when the JVM does not say). */
  private static long processCpuNanos() {
    return java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : -1;
  }

  private record Result(long ok, long failed, List<Double> latenciesMs) {
    double pct(int p) {
      if (latenciesMs.isEmpty()) {
        return Double.NaN;
      }
      List<Double> s = new ArrayList<>(latenciesMs);
      Collections.sort(s);
      return s.get(Math.min(s.size() - 1, (int) Math.ceil(p / 100.0 * s.size()) - 1 < 0 ? 0
          : (int) Math.ceil(p / 100.0 * s.size()) - 1));
    }
  }

  private static Result run(HttpClient client, String url, String token, byte[] base, JsonArray detections,
                            AtomicInteger unique, int clients, int seconds) throws InterruptedException {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
    CountDownLatch done = new CountDownLatch(clients);
    for (int i = 0; i < clients; i++) {
      int t = i;
      new Thread(() -> {
        try {
          while (System.nanoTime() < end) {
            String body = new JsonObject().put("image", Base64.getEncoder().encodeToString(io.osprey.cli.Load.variant(base,
                    unique.incrementAndGet()))).put("flightId", "bench").put("source", "AI")
                .put("detections", detections).encode();
            HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
            long t0 = System.nanoTime();
            try {
              HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
              if (r.statusCode() == 201) {
                ok.incrementAndGet();
                latencies.add((System.nanoTime() - t0) / 1e6);
              } else {
                failed.incrementAndGet();
              }
            } catch (Exception e) {
              failed.incrementAndGet();
            }
          }
        } finally {
          done.countDown();
        }
      }, "bench-client-" + t).start();
    }
    done.await();
    return new Result(ok.get(), failed.get(), latencies);
  }

  /** terrain1.jpg scaled until its JPEG is close to {@code target} bytes. */
  private static byte[] jpegNear(int target) throws Exception {
    BufferedImage src = ImageIO.read(Fixtures.imagesDir().resolve("terrain1.jpg").toFile());
    byte[] best = null;
    for (int width = 400; width <= src.getWidth(); width += 40) {
      int height = (int) Math.round((double) src.getHeight() * width / src.getWidth());
      BufferedImage scaled = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
      scaled.createGraphics().drawImage(src, 0, 0, width, height, null);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(scaled, "jpg", out);
      best = out.toByteArray();
      if (best.length >= target) {
        break;
      }
    }
    return best;
  }
}
