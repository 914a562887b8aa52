package io.osprey.uploads;

import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Removes what a crash can leave behind: partial files in {@code tmp/} (a process killed mid-upload) and upload
 * folders that never got their database rows (killed between the move and the commit). Runs at start and hourly;
 * only touches entries older than {@code storage.tmp_max_age_minutes}, so uploads in flight in other processes
 * sharing the storage are safe.
 */
public final class StorageJanitorVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(StorageJanitorVerticle.class);
  private final StorageLayout layout;
  private final UploadRepository repository;
  private final Duration maxAge;
  private long timer;

  public StorageJanitorVerticle(StorageLayout layout, UploadRepository repository, Duration maxAge) {
    this.layout = layout;
    this.repository = repository;
    this.maxAge = maxAge;
  }

  @Override
  public Future<?> start() {
    timer = vertx.setPeriodic(1000, Duration.ofHours(1).toMillis(), id -> sweep());
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timer);
    return Future.succeededFuture();
  }

  /** Visible for tests: one full sweep. */
  public Future<Integer> sweep() {
    Instant cutoff = Instant.now().minus(maxAge);
    int removedTmp = 0;
    for (Path p : olderThan(layout.tmp(), cutoff)) {
      UploadFilesVerticle.deleteQuietly(p);
      removedTmp++;
    }
    List<Path> candidates = olderThan(layout.uploads(), cutoff);
    List<String> ids = candidates.stream().map(p -> p.getFileName().toString()).toList();
    Set<String> uuids = UploadRepository.validUuids(ids);
    int tmpCount = removedTmp;
    if (uuids.isEmpty()) {
      return Future.succeededFuture(tmpCount);
    }
    return repository.existing(List.copyOf(uuids)).map(kept -> {
      int removed = tmpCount;
      for (Path dir : candidates) {
        String id = dir.getFileName().toString();
        if (uuids.contains(id) && !kept.contains(id)) {
          LOG.warn("removing upload folder {} that has no database row (left by an interrupted upload)", dir);
          UploadFilesVerticle.deleteQuietly(dir);
          removed++;
        }
      }
      return removed;
    }).onFailure(e -> LOG.warn("storage sweep skipped upload folders: {}", e.getMessage()));
  }

  private static List<Path> olderThan(Path folder, Instant cutoff) {
    List<Path> found = new ArrayList<>();
    if (!Files.isDirectory(folder)) {
      return found;
    }
    try (Stream<Path> entries = Files.list(folder)) {
      entries.forEach(p -> {
        try {
          if (Files.getLastModifiedTime(p).toInstant().isBefore(cutoff)) {
            found.add(p);
          }
        } catch (IOException ignored) {
          // vanished meanwhile
        }
      });
    } catch (IOException e) {
      LOG.warn("cannot list {}: {}", folder, e.toString());
    }
    return found;
  }
}
