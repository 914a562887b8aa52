package io.osprey.bench;

import io.osprey.inference.DetectionEngine;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.OrtRuntime;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Two service-level figures, against a real service in this JVM on the real servers:
 * <ol>
 *   <li>a detection job on terrain1.jpg end to end through the API (predict until the status says completed)
 *       against the engine's own time for the same image, model and threads;</li>
 *   <li>status polling throughput (GET /status of a completed job) against a trivial endpoint of the same
 *       server (GET /health/live), closed loop with N concurrent HTTP/1.1 clients on loopback.</li>
 * </ol>
 * Usage: {@code scripts/bench-jobs.sh [--runs N] [--clients C] [--seconds S]}
 */
public final class JobsBenchmark {
  public static void main(String[] args) throws Exception {
    int runs = 3;
    int clients = 16;
    int seconds = 10;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        case "--clients" -> clients = Integer.parseInt(args[++i]);
        case "--seconds" -> seconds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Path image = Fixtures.imagesDir().resolve("terrain1.jpg");
    String model = "yolov8n_int8";
    System.out.printf("machine: %d cores, java %s; model %s, image %s, default SAHI slicing%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), model, image.getFileName());

    List<Double> engineMs = new ArrayList<>();
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 2, 1), Models.dir(), model);
    try (DetectionEngine engine = new DetectionEngine(registry.get(model), 8, DetectionEngine.overlapPays(2))) {
      engine.detect(image, DetectionParams.defaults());
      for (int i = 0; i < runs; i++) {
        long t = System.nanoTime();
        engine.detect(image, DetectionParams.defaults());
        engineMs.add((System.nanoTime() - t) / 1e6);
      }
    }
    registry.close();

    try (TestService service = TestService.start(JobsBenchmark.class)) {
      String base = service.baseUrl();
      JsonObject upload = Jobs.upload(base, List.of(image));
      JsonObject body = new JsonObject().put("upload_id", upload.getString("upload_id"))
          .put("config", new JsonObject().put("model", model).put("visualization", false));
      String warm = Jobs.predict(base, body).json().getJsonObject("data").getString("job_id");
      Jobs.waitFor(base, warm, 120_000, "completed");
      List<Double> jobMs = new ArrayList<>();
      String completed = warm;
      for (int i = 0; i < runs; i++) {
        long t = System.nanoTime();
        String jobId = Jobs.predict(base, body).json().getJsonObject("data").getString("job_id");
        pollUntilDone(base, jobId);
        jobMs.add((System.nanoTime() - t) / 1e6);
        completed = jobId;
      }
      double engine = median(engineMs);
      double job = median(jobMs);
      System.out.printf("engine alone: median %.0f ms %s%n", engine, engineMs);
      System.out.printf("job through the API (predict to completed, polled every 20 ms): median %.0f ms %s%n", job,
          jobMs);
      System.out.printf("job overhead over the engine: %.1f %%%n", 100 * (job / engine - 1));

      double live = rate(base + "/health/live", clients, seconds);
      double status = rate(base + "/api/v1/jobs/" + completed + "/status", clients, seconds);
      System.out.printf("GET /health/live: %.0f req/s; GET /status: %.0f req/s (%d clients, %d s each):"
          + " status at %.0f %% of the trivial endpoint%n", live, status, clients, seconds, 100 * status / live);
    }
    System.exit(0);
  }

  private static void pollUntilDone(String base, String jobId) throws Exception {
    while (true) {
      String s = Jobs.status(base, jobId).getString("status");
      if (s.equals("completed") || s.equals("failed")) {
        if (s.equals("failed")) {
          throw new IllegalStateException("job failed");
        }
        return;
      }
      Thread.sleep(20);
    }
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }

  /** Closed loop: each client sends its next request when the previous answer arrived. */
  private static double rate(String url, int clients, int seconds) throws Exception {
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(url)).GET().build();
    for (int i = 0; i < 200; i++) {
      client.send(request, HttpResponse.BodyHandlers.discarding());
    }
    AtomicLong ok = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    CountDownLatch done = new CountDownLatch(clients);
    for (int c = 0; c < clients; c++) {
      new Thread(() -> {
        try {
          while (System.nanoTime() < end) {
            HttpResponse<Void> r = client.send(request, HttpResponse.BodyHandlers.discarding());
            (r.statusCode() == 200 ? ok : errors).incrementAndGet();
          }
        } catch (Exception e) {
          errors.incrementAndGet();
        } finally {
          done.countDown();
        }
      }).start();
    }
    done.await();
    if (errors.get() > 0) {
      System.out.printf("  %s: %d errors%n", url, errors.get());
    }
    return ok.get() / (double) seconds;
  }
}
