package io.osprey.uploads;

import io.osprey.config.Config;

/** The upload rules from configuration (defaults are the spec's: 100 files, 50 MB, 64..8192 px). */
public record UploadLimits(int maxFiles, long maxFileBytes, int minDimension, int maxDimension) {

  public static UploadLimits from(Config config) {
    return new UploadLimits(config.integer("uploads.max_files"), config.longValue("uploads.max_file_bytes"),
        config.integer("uploads.min_dimension"), config.integer("uploads.max_dimension"));
  }

  public boolean dimensionsOk(int width, int height) {
    return width >= minDimension && height >= minDimension && width <= maxDimension && height <= maxDimension;
  }
}
