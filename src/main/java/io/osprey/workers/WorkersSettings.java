package io.osprey.workers;

import io.osprey.config.Config;
import java.time.Duration;

/** What a worker role reads: how many images at once (pipeline worker verticles), the largest tile batch, result files, rules budget, retries, leases, shutdown grace. */
public record WorkersSettings(int instances, int maxBatch, int thumbnailSize, int jpegQuality, int rulesTimeBudgetMs,
                              int maxDeliveries, int retryAttempts, int retryBackoffMs, int leaseSeconds,
                              int leaseRenewSeconds, int maxProcessingSeconds, Duration grace) {

  public static WorkersSettings from(Config config) {
    return new WorkersSettings(config.integer("jobs.worker_instances"), config.integer("inference.batch_size"),
        config.integer("jobs.thumbnail_size"),
        config.integer("jobs.jpeg_quality"), config.integer("rules.time_budget_ms"),
        config.integer("jobs.max_deliveries"), config.integer("jobs.retry_attempts"),
        config.integer("jobs.retry_backoff_ms"), config.integer("jobs.lease_seconds"),
        config.integer("jobs.lease_renew_seconds"), config.integer("jobs.max_processing_seconds"),
        Duration.ofSeconds(Math.max(0, config.integer("shutdown.grace_seconds"))));
  }
}
