package io.osprey.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.AbstractVerticle;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code gpu_utilization_percent{gpu="<index>"}}: each GPU's utilisation as NVML reports it, read through
 * {@code nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits} (one line per GPU, in index order).
 * Deploy with the worker threading model: the command runs on this verticle's worker thread, never on an event loop.
 * Where {@code nvidia-smi} is not on the PATH (CPU machines) nothing is registered, so the series is absent rather
 * than a misleading 0; a GPU's gauge appears at its first parsed reading and keeps its last value when a later read
 * fails.
 */
public final class GpuUtilization extends AbstractVerticle {
  private static final Logger LOG = LoggerFactory.getLogger(GpuUtilization.class);
  static final String[] COMMAND = {"nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"};

  private final MeterRegistry registry;
  private final long periodMs;
  private final Map<String, AtomicLong> gauges = new ConcurrentHashMap<>();
  private long timer = -1;
  private boolean warned;

  public GpuUtilization(MeterRegistry registry, long periodMs) {
    this.registry = registry;
    this.periodMs = periodMs;
  }

  /** Whether an {@code nvidia-smi} executable is on the PATH (no GPU tool, no GPU metric). */
  public static boolean available() {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(java.io.File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvidia-smi"))) {
        return true;
      }
    }
    return false;
  }

  /**
   * Parses the command's output: one utilisation (0-100) per line, the line's position being the GPU index.
   * A line that is not a number in range (e.g. "[N/A]", "[Not Supported]") gives no reading for that GPU; output
   * that is not this format at all gives nothing.
   */
  public static Map<String, Double> parse(String output) {
    Map<String, Double> readings = new LinkedHashMap<>();
    if (output == null) {
      return readings;
    }
    String[] lines = output.strip().split("\\R");
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty()) {
        continue;
      }
      try {
        double value = Double.parseDouble(line);
        if (value >= 0 && value <= 100) {
          readings.put(Integer.toString(i), value);
        }
      } catch (NumberFormatException e) {
        // not a reading for this GPU
      }
    }
    return readings;
  }

  @Override
  public void start() {
    sample();
    timer = vertx.setPeriodic(periodMs, id -> sample());
  }

  @Override
  public void stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
  }

  private void sample() {
    String output;
    try {
      output = run();
    } catch (IOException e) {
      if (!warned) {
        warned = true;
        LOG.warn("gpu_utilization_percent: nvidia-smi failed ({}); keeping the last readings", e.getMessage());
      }
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    parse(output).forEach((gpu, value) -> gauges.computeIfAbsent(gpu, g -> {
      AtomicLong cell = new AtomicLong();
      Gauge.builder("gpu_utilization_percent", cell, c -> Double.longBitsToDouble(c.get())).tag("gpu", g)
          .description("GPU utilisation (NVML, via nvidia-smi)").register(registry);
      return cell;
    }).set(Double.doubleToLongBits(value)));
  }

  private static String run() throws IOException, InterruptedException {
    Process process = new ProcessBuilder(COMMAND).redirectErrorStream(true).start();
    try (InputStream in = process.getInputStream()) {
      byte[] bytes = in.readNBytes(64 * 1024);
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        throw new IOException("nvidia-smi did not answer within 5 s");
      }
      if (process.exitValue() != 0) {
        throw new IOException("nvidia-smi exited with " + process.exitValue());
      }
      return new String(bytes, StandardCharsets.UTF_8);
    } finally {
      process.destroyForcibly();
    }
  }
}
