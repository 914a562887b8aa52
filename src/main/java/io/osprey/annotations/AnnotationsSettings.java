package io.osprey.annotations;

import io.osprey.config.Config;
import io.osprey.storage.Database;
import io.vertx.pgclient.PgConnectOptions;
import java.time.Duration;

/**
 * What the annotations module reads: the base of the configured roots, thumbnails, reconciliation timing, request
 * limits, the database it listens on for cache invalidations (and reads dataset exports from, each on a connection
 * of its own), the file that seeds an empty class catalog (empty: none), and how many dataset exports may run at once.
 */
public record AnnotationsSettings(String rootsBase, int thumbnailSize, Duration reconcileAfter,
                                  Duration reconcileInterval, long maxImageBytes, long mediaMaxRequestBytes,
                                  int mediaMaxFiles, PgConnectOptions notifications, String classesFile,
                                  int maxConcurrentExports) {

  public static AnnotationsSettings from(Config config) {
    return new AnnotationsSettings(config.string("annotations.roots_base"),
        config.integer("annotations.thumbnail_size"),
        Duration.ofSeconds(config.integer("annotations.reconcile_after_seconds")),
        Duration.ofSeconds(config.integer("annotations.reconcile_interval_seconds")),
        config.longValue("annotations.max_image_bytes"), config.longValue("media.max_request_bytes"),
        config.integer("media.max_files"), Database.connectOptions(config),
        config.string("annotations.classes_file"), config.integer("annotations.max_concurrent_exports"));
  }
}
