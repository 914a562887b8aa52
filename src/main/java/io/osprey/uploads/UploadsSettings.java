package io.osprey.uploads;

import io.osprey.config.Config;
import java.time.Duration;

/** What the uploads module reads: its file workers, the age at which stray temporary files go, the limits. */
public record UploadsSettings(int workerInstances, Duration tmpMaxAge, UploadLimits limits) {

  public static UploadsSettings from(Config config) {
    return new UploadsSettings(config.integer("uploads.worker_instances"),
        Duration.ofMinutes(config.integer("storage.tmp_max_age_minutes")), UploadLimits.from(config));
  }
}
