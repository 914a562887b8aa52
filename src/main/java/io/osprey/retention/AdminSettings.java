package io.osprey.retention;

import io.osprey.config.Config;
import java.time.Duration;

/** What the admin module reads: how long results are kept, how often that is swept, the free-space floor. */
public record AdminSettings(int retentionDays, Duration sweepInterval, long minFreeBytes) {

  public static AdminSettings from(Config config) {
    return new AdminSettings(config.integer("storage.retention_days"),
        Duration.ofMinutes(config.integer("storage.retention_sweep_minutes")),
        config.longValue("storage.min_free_bytes"));
  }
}
