package io.osprey.jobs;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Vertx;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** The spec's job metrics ("Monitoring Data Flow"), under its names. */
public final class JobMetrics {
  private final MeterRegistry registry;
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicLong queueLength = new AtomicLong(-1);
  private final AtomicInteger workersAlive = new AtomicInteger(-1);
  private final String queueName;
  private final Timer duration;
  private final Counter detections;
  private final DistributionSummary imagesPerJob;

  public JobMetrics(MeterRegistry registry, String queueName) {
    this.registry = registry;
    this.queueName = queueName;
    Gauge.builder("active_jobs", active, AtomicInteger::get).description("Jobs being processed in this process")
        .register(registry);
    // queue_length and workers_alive are registered at their first answer: no sample at all beats a made-up -1.
    duration = Timer.builder("inference_duration_seconds").description("Processing time of a job")
        .publishPercentileHistogram().register(registry);
    detections = Counter.builder("detection_count_total").description("Objects detected").register(registry);
    imagesPerJob = DistributionSummary.builder("job_images").description("Images per job").register(registry);
    var os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
      Gauge.builder("cpu_usage_percent", sun, b -> Math.max(0, b.getCpuLoad() * 100))
          .description("Machine CPU use").register(registry);
      Gauge.builder("memory_usage_bytes", sun, b -> b.getTotalMemorySize() - b.getFreeMemorySize())
          .description("Machine memory in use").register(registry);
    }
  }

  public void jobCounted(String status) {
    Counter.builder("inference_jobs_total").tag("status", status).description("Jobs by status reached")
        .register(registry).increment();
  }

  public void started() {
    active.incrementAndGet();
  }

  public void finished(Duration took, long detectionCount, int images, String status) {
    active.decrementAndGet();
    if (status.equals(JobRow.COMPLETED)) {
      duration.record(took);
      imagesPerJob.record(images);
    }
    detections.increment(detectionCount);
    if (!status.equals(JobRow.PROCESSING)) {
      jobCounted(status); // still processing: handed back to the queue, counted when it ends
    }
  }

  public int activeJobs() {
    return active.get();
  }

  /**
   * The broker's count of ready messages in the job queue. The gauge ({@code queue_length{queue="<jobs.queue>"}})
   * appears at the first answer; while the broker does not answer it keeps the last value (Prometheus still sees
   * the process; the broker's own health is readiness's business).
   */
  public void queueLength(long length) {
    if (length < 0) {
      return;
    }
    if (queueLength.getAndSet(length) < 0) {
      Gauge.builder("queue_length", queueLength, AtomicLong::get).tag("queue", queueName)
          .description("Jobs waiting in the broker queue (ready messages), sampled from the broker")
          .register(registry);
    }
  }

  /** Worker processes whose heartbeat is fresh, as this process last read it (gauge {@code workers_alive}). */
  public void workersAlive(int alive) {
    if (alive < 0) {
      return;
    }
    if (workersAlive.getAndSet(alive) < 0) {
      Gauge.builder("workers_alive", workersAlive, AtomicInteger::get)
          .description("Worker processes with a heartbeat in the last 15 s (read from Redis by API processes)")
          .register(registry);
    }
  }

  /**
   * Samples the queue length (and, where given, the live workers) every {@code periodMs}, in any role: the
   * broker's passive declare (message count) through the process's own RabbitMQ client, never on a timer that
   * blocks. A failed sample is dropped and the last value stays. Returns the timer id.
   */
  public long poll(Vertx vertx, JobQueue queue, JobsApi.Workers workers, long periodMs) {
    Runnable sample = () -> {
      queue.length().onSuccess(this::queueLength);
      if (workers != null) {
        workers.alive().onSuccess(this::workersAlive);
      }
    };
    return vertx.setPeriodic(Math.min(1000, periodMs), periodMs, id -> sample.run());
  }

  public long queueLength() {
    return queueLength.get();
  }
}
