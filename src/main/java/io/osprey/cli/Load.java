package io.osprey.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "load", description = {"Load generator: run a scenario with N concurrent clients (optionally at a"
    + " total rate) for a bounded time and count; print requests/s, latency p50/p90/p99/max and errors by code;"
    + " write a JSON report. Loopback targets only unless --allow-remote."})
public final class Load implements Callable<Integer> {
  enum Scenario { status, upload, annotations, sse, detect }

  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--scenario", required = true,
      description = "status (job status polling), upload, annotations (creates), sse (subscribers), detect (full"
          + " jobs).")
  Scenario scenario;

  @Option(names = "--concurrency", defaultValue = "4", description = "Concurrent clients (1..5000).")
  int concurrency;

  @Option(names = "--duration", defaultValue = "10", description = "Seconds (1..3600).")
  int duration;

  @Option(names = "--rate", description = "Total requests per second (default: as fast as the clients go).")
  Double rate;

  @Option(names = "--requests", description = "Stop after this many requests (default: no limit but the time).")
  Long requests;

  @Option(names = "--job", description = "status scenario: the job to poll (default: your newest job).")
  String job;

  @Option(names = "--report", description = "Write the JSON report here.")
  Path report;

  @Option(names = "--allow-remote", description = "Allow a target that is not on this machine.")
  boolean allowRemote;

  private final List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
  private final Map<String, AtomicLong> errors = new ConcurrentHashMap<>();
  private final AtomicLong ok = new AtomicLong();
  private final AtomicLong events = new AtomicLong();
  private final AtomicLong issued = new AtomicLong();

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      if (concurrency < 1 || concurrency > 5000 || duration < 1 || duration > 3600
          || (rate != null && rate <= 0)) {
        spec.commandLine().getErr().println("osprey: --concurrency 1..5000, --duration 1..3600, --rate > 0");
        return ApiClient.USAGE;
      }
      String host = URI.create(root.url).getHost();
      if (!allowRemote && !(host.equals("127.0.0.1") || host.equals("localhost") || host.equals("::1")
          || host.equals("[::1]"))) {
        spec.commandLine().getErr().println("osprey: " + root.url + " is not on this machine; add --allow-remote");
        return ApiClient.USAGE;
      }
      ApiClient api = root.client();
      byte[] jpeg = jpeg();
      Path file = Files.createTempFile("osprey-load-", ".jpg");
      Files.write(file, jpeg);
      String jobId = scenario == Scenario.status ? jobToPoll(api) : null;
      long start = System.nanoTime();
      long end = start + duration * 1_000_000_000L;
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < concurrency; t++) {
        Thread th = new Thread(() -> {
          while (System.nanoTime() < end) {
            long n = issued.getAndIncrement();
            if (requests != null && n >= requests) {
              return;
            }
            if (rate != null) {
              long due = start + (long) (n * 1e9 / rate);
              long wait = due - System.nanoTime();
              if (wait > 0) {
                try {
                  Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                } catch (InterruptedException e) {
                  return;
                }
              }
              if (System.nanoTime() >= end) {
                return;
              }
            }
            long t0 = System.nanoTime();
            try {
              once(api, jpeg, file, jobId, n, end);
              ok.incrementAndGet();
              latencies.add((System.nanoTime() - t0) / 1e6);
            } catch (ApiClient.Failure f) {
              errors.computeIfAbsent(f.code() != null ? f.code() : f.exit() == ApiClient.UNREACHABLE
                  ? "UNREACHABLE" : "HTTP_" + f.exit(), k -> new AtomicLong()).incrementAndGet();
            } catch (Exception e) {
              errors.computeIfAbsent(e.getClass().getSimpleName(), k -> new AtomicLong()).incrementAndGet();
            }
          }
        }, "osprey-load-" + t);
        threads.add(th);
        th.start();
      }
      for (Thread th : threads) {
        th.join();
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      Files.deleteIfExists(file);
      JsonObject result = report(seconds);
      if (report != null) {
        Files.writeString(report, result.encodePrettily());
      }
      if (root.json) {
        root.print(result);
      } else {
        JsonObject l = result.getJsonObject("latencyMs");
        root.out().printf("%s: %d ok, %d failed in %.1f s = %.1f requests/s; latency p50 %.1f ms, p90 %.1f ms,"
                + " p99 %.1f ms, max %.1f ms%n", scenario, ok.get(), result.getLong("failed"), seconds,
            result.getDouble("requestsPerSecond"), l.getDouble("p50"), l.getDouble("p90"), l.getDouble("p99"),
            l.getDouble("max"));
        if (scenario == Scenario.sse) {
          root.out().println("events received: " + events.get());
        }
        result.getJsonObject("errors").forEach(e -> root.out().println("  " + e.getKey() + ": " + e.getValue()));
        root.out().flush();
      }
      return result.getLong("failed") == 0 ? ApiClient.OK : ApiClient.SERVER;
    });
  }

  private void once(ApiClient api, byte[] jpeg, Path file, String jobId, long n, long end) throws Exception {
    switch (scenario) {
      case status -> api.get("/api/v1/jobs/" + jobId + "/status");
      case upload -> api.multipart("/api/v1/inference/upload", "files", List.of(file), List.of());
      case annotations -> api.json("POST", "/annotations", new JsonObject()
          .put("image", Base64.getEncoder().encodeToString(variant(jpeg, n))).put("flightId", "osprey-load")
          .put("source", "AI").put("detections", new JsonArray().add(new JsonObject().put("classNum", 0)
              .put("label", "load").put("centerX", 0.5).put("centerY", 0.5).put("width", 0.1).put("height", 0.1))));
      case sse -> api.events("/annotations/events", (type, data) -> {
        if (type.equals("annotation")) {
          events.incrementAndGet();
        }
        return System.nanoTime() < end;
      }, end);
      case detect -> {
        String upload = api.multipart("/api/v1/inference/upload", "files", List.of(file), List.of()).json()
            .getString("upload_id");
        JsonObject r = api.json("POST", "/api/v1/inference/predict", new JsonObject().put("upload_id", upload)
            .put("config", new JsonObject().put("visualization", false))).json();
        String id = r.getJsonObject("data", r).getString("job_id");
        while (true) {
          String status = api.get("/api/v1/jobs/" + id + "/status").json().getString("status");
          if (status.equals("completed")) {
            return;
          }
          if (status.equals("failed") || status.equals("cancelled")) {
            throw new ApiClient.Failure(ApiClient.JOB_FAILED, "JOB_" + status.toUpperCase(), "job " + status);
          }
          Thread.sleep(100);
        }
      }
      default -> throw new IllegalStateException();
    }
  }

  private String jobToPoll(ApiClient api) {
    if (job != null) {
      return job;
    }
    if (!api.hasToken()) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, "no job to poll: give --job ID (listing jobs to pick one"
          + " needs a token)");
    }
    JsonArray jobs = api.get("/api/v1/jobs?page_size=1").json().getJsonArray("jobs", new JsonArray());
    if (jobs.isEmpty()) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, "no job to poll: give --job ID or run `osprey detect` first");
    }
    return jobs.getJsonObject(0).getString("job_id");
  }

  private JsonObject report(double seconds) {
    List<Double> s = new ArrayList<>(latencies);
    Collections.sort(s);
    long failed = errors.values().stream().mapToLong(AtomicLong::get).sum();
    Map<String, Long> byCode = new TreeMap<>();
    errors.forEach((k, v) -> byCode.put(k, v.get()));
    JsonObject e = new JsonObject();
    byCode.forEach(e::put);
    return new JsonObject().put("scenario", scenario.name()).put("url", root.url).put("concurrency", concurrency)
        .put("durationSeconds", Math.round(seconds * 1000) / 1000.0).put("rate", rate).put("ok", ok.get())
        .put("failed", failed).put("requestsPerSecond", Math.round((ok.get() + failed) / seconds * 10) / 10.0)
        .put("latencyMs", new JsonObject().put("p50", pct(s, 50)).put("p90", pct(s, 90)).put("p99", pct(s, 99))
            .put("max", pct(s, 100)))
        .put("errors", e).put("eventsReceived", scenario == Scenario.sse ? events.get() : null);
  }

  static double pct(List<Double> sorted, int p) {
    if (sorted.isEmpty()) {
      return 0;
    }
    int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return Math.round(sorted.get(Math.max(0, Math.min(sorted.size() - 1, i))) * 10) / 10.0;
  }

  /** A small generated aerial-ish JPEG (uploads and creates need a real image). */
  static byte[] jpeg() throws java.io.IOException {
    BufferedImage img = new BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    java.util.Random r = new java.util.Random(7);
    for (int i = 0; i < 60; i++) {
      g.setColor(new Color(r.nextInt(256), r.nextInt(256), r.nextInt(256)));
      g.fillRect(r.nextInt(620), r.nextInt(460), 10 + r.nextInt(60), 10 + r.nextInt(60));
    }
    g.dispose();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "jpg", out);
    return out.toByteArray();
  }

  /** The JPEG with a comment segment holding {@code n} after SOI: a valid, different image (a new annotation id). */
  public static byte[] variant(byte[] jpeg, long n) {
    byte[] text = ("osprey-load-" + System.nanoTime() + "-" + n).getBytes(StandardCharsets.US_ASCII);
    byte[] out = new byte[jpeg.length + 4 + text.length];
    out[0] = (byte) 0xFF;
    out[1] = (byte) 0xD8;
    out[2] = (byte) 0xFF;
    out[3] = (byte) 0xFE;
    out[4] = (byte) ((text.length + 2) >> 8);
    out[5] = (byte) (text.length + 2);
    System.arraycopy(text, 0, out, 6, text.length);
    System.arraycopy(jpeg, 2, out, 6 + text.length, jpeg.length - 2);
    return out;
  }
}
