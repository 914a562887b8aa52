package io.osprey.jobs;

import io.osprey.config.Config;
import io.vertx.rabbitmq.RabbitMQOptions;
import java.nio.file.Path;
import java.time.Duration;

/** What the jobs module reads: queue and broker, status cache, rate limit, queued timeout, models and rules. */
public record JobsSettings(String keyPrefix, String queue, RabbitMQOptions broker, int statusCacheTtlSeconds,
                           int rateLimitPerMinute, boolean rateLimitTrustForwardedFor, Duration queuedTimeout,
                           Path modelsDir, String defaultModel, Path rulesDir, int brokerCheckTimeoutMs) {

  public static JobsSettings from(Config config) {
    return new JobsSettings(config.string("redis.key_prefix"), config.string("jobs.queue"),
        JobQueue.brokerOptions(config, "osprey"), config.integer("jobs.status_cache_ttl_seconds"),
        config.integer("jobs.rate_limit_per_minute"), config.bool("jobs.rate_limit_trust_forwarded_for"),
        Duration.ofSeconds(config.integer("jobs.queued_timeout_seconds")), config.path("models.dir"),
        config.string("models.default"), config.path("rules.dir"),
        config.integer("health.check_timeout_ms"));
  }

  /** A queue client of its own, named for the broker's connection list. */
  public JobQueue queue(io.vertx.core.Vertx vertx, String connectionName) {
    return new JobQueue(vertx, queue, new RabbitMQOptions(broker).setConnectionName(connectionName));
  }
}
