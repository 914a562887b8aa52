package io.osprey.jobs;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** The spec's job metrics ("Monitoring Data Flow"), under its names. */
public final class JobMetrics {
  private final MeterRegistry registry;
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicLong queueLength = new AtomicLong(-1);
  private final Timer duration;
  private final Counter detections;
  private final DistributionSummary imagesPerJob;

  public JobMetrics(MeterRegistry registry, String queueName) {
    this.registry = registry;
    Gauge.builder("active_jobs", active, AtomicInteger::get).description("Jobs being processed in this process")
        .register(registry);
    Gauge.builder("queue_length", queueLength, AtomicLong::get).tag("queue", "inference")
        .description("Jobs waiting in the broker queue (" + queueName + "); -1 while unknown").register(registry);
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

  public void queueLength(long length) {
    queueLength.set(length);
  }

  public long queueLength() {
    return queueLength.get();
  }
}
