package io.osprey.retention;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.jobs.JobRepository;
import io.osprey.jobs.StatusCache;
import io.osprey.storage.FileTrees;
import io.osprey.storage.StorageLayout;
import io.osprey.uploads.UploadRepository;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes jobs and uploads, rows and files, on request (the DELETE routes) and by age (the retention sweep).
 * Rows go first, files after: a process that dies in between leaves only files without rows, which the sweep
 * (results folders) and the storage janitor (upload folders) remove later, never rows pointing at missing files.
 * The SQL lives in the repositories that own the tables ({@link JobRepository}, {@link UploadRepository}).
 */
public final class Retention {
  private static final Logger LOG = LoggerFactory.getLogger(Retention.class);
  /** Rows deleted per statement, so one sweep never holds a long lock on a large table. */
  private static final int BATCH = 500;

  private final Vertx vertx;
  private final Pool pool;
  private final JobRepository jobs;
  private final UploadRepository uploads;
  private final StatusCache cache;
  private final StorageLayout layout;
  private final Counter jobsRemoved;
  private final Counter uploadsRemoved;

  /** {@code cache}: the job status cache, emptied for every deleted job so status reads answer 404 at once. */
  public Retention(Vertx vertx, Pool pool, StatusCache cache, StorageLayout layout, MeterRegistry registry) {
    this.vertx = vertx;
    this.pool = pool;
    this.jobs = new JobRepository(pool);
    this.uploads = new UploadRepository(pool);
    this.cache = cache;
    this.layout = layout;
    this.jobsRemoved = Counter.builder("osprey_retention_removed_total").tag("kind", "job")
        .description("Finished jobs and unused uploads the retention sweep deleted (rows and files)")
        .register(registry);
    this.uploadsRemoved = Counter.builder("osprey_retention_removed_total").tag("kind", "upload")
        .description("Finished jobs and unused uploads the retention sweep deleted (rows and files)")
        .register(registry);
  }

  /** What one sweep removed. */
  public record Removed(int jobs, int uploads) {
  }

  public enum UploadDeletion { DELETED, NOT_FOUND, IN_USE }

  /** Removes a job's rows (its results cascade) and its results folder; false when there was no such job. */
  public Future<Boolean> deleteJob(String jobId) {
    return jobs.delete(UUID.fromString(jobId))
        .compose(deleted -> !deleted ? Future.succeededFuture(false)
            : forgotten(List.of(jobId)).compose(x -> removeFiles(List.of(layout.resultsDir(jobId)))).map(true));
  }

  /**
   * Removes an upload unless a queued or processing job uses it. Finished jobs that used it go with it: their
   * results point at the upload's files. The upload row is locked first, so a job created meanwhile (its foreign
   * key takes a share lock on that row) is either seen here as live or fails to reference a deleted upload.
   */
  public Future<UploadDeletion> deleteUpload(String uploadId) {
    UUID id = UUID.fromString(uploadId);
    List<String> jobsGone = new ArrayList<>();
    return pool.withTransaction(conn -> UploadRepository.lockForDelete(conn, id)
        .compose(found -> {
          if (!found) {
            return Future.succeededFuture(UploadDeletion.NOT_FOUND);
          }
          return JobRepository.uploadInUse(conn, id)
              .compose(live -> {
                if (live) {
                  return Future.succeededFuture(UploadDeletion.IN_USE);
                }
                return JobRepository.deleteOfUpload(conn, id)
                    .compose(gone -> {
                      jobsGone.addAll(gone);
                      return UploadRepository.delete(conn, id);
                    })
                    .map(UploadDeletion.DELETED);
              });
        }))
        .compose(result -> {
          if (result != UploadDeletion.DELETED) {
            return Future.succeededFuture(result);
          }
          List<Path> paths = new ArrayList<>();
          paths.add(layout.uploadDir(uploadId));
          jobsGone.forEach(j -> paths.add(layout.resultsDir(j)));
          return forgotten(jobsGone).compose(x -> removeFiles(paths)).map(result);
        });
  }

  /**
   * One sweep: finished jobs whose end (completion, failure or cancellation) is older than {@code olderThan}, then
   * uploads older than that which no job uses any more, then results folders left without a job row.
   */
  public Future<Removed> sweep(Duration olderThan) {
    long seconds = olderThan.toSeconds();
    return inBatches(() -> jobs.deleteFinishedBefore(seconds, BATCH), 0, new ArrayList<>())
        .compose(gone -> forgotten(gone).compose(x -> removeFiles(gone.stream().map(layout::resultsDir).toList()))
            .map(gone.size()))
        .compose(jobCount -> inBatches(() -> uploads.deleteUnusedBefore(seconds, BATCH), 0, new ArrayList<>())
            .compose(gone -> removeFiles(gone.stream().map(layout::uploadDir).toList())
                .map(new Removed(jobCount, gone.size()))))
        .compose(removed -> orphanResults().map(removed))
        .onSuccess(removed -> {
          jobsRemoved.increment(removed.jobs());
          uploadsRemoved.increment(removed.uploads());
          if (removed.jobs() + removed.uploads() > 0) {
            LOG.info("retention: removed {} finished jobs and {} unused uploads older than {}", removed.jobs(),
                removed.uploads(), olderThan);
          }
        });
  }

  /** Runs {@code batch} (one DELETE of at most BATCH rows) until it removes fewer than BATCH; answers every id. */
  private static Future<List<String>> inBatches(java.util.function.Supplier<Future<List<String>>> batch, int round,
                                                List<String> removed) {
    return batch.get().compose(ids -> {
      removed.addAll(ids);
      // Bounded: a sweep removes at most 200 batches; the next sweep continues.
      return ids.size() < BATCH || round >= 200 ? Future.succeededFuture(removed)
          : inBatches(batch, round + 1, removed);
    });
  }

  /**
   * Results folders older than an hour whose job row is gone: a job deleted while a worker still wrote its last
   * image, or a process that died between deleting rows and files.
   */
  private Future<Void> orphanResults() {
    Path results = layout.root().resolve("results");
    Instant cutoff = Instant.now().minus(Duration.ofHours(1));
    return vertx.executeBlocking(() -> {
      List<String> ids = new ArrayList<>();
      if (Files.isDirectory(results)) {
        try (Stream<Path> entries = Files.list(results)) {
          entries.forEach(p -> {
            try {
              String name = p.getFileName().toString();
              if (io.osprey.storage.Ids.isCanonicalUuid(name)
                  && Files.getLastModifiedTime(p).toInstant().isBefore(cutoff)) {
                ids.add(name);
              }
            } catch (IOException ignored) {
              // vanished meanwhile
            }
          });
        }
      }
      return ids;
    }, false).compose(ids -> {
      if (ids.isEmpty()) {
        return Future.succeededFuture();
      }
      return jobs.existing(ids)
          .compose(kept -> {
            return removeFiles(ids.stream().filter(i -> !kept.contains(i)).map(layout::resultsDir).toList());
          });
    });
  }

  /** Drops deleted jobs from the status cache (a failure there only delays the 404 until the entry expires). */
  private Future<Void> forgotten(List<String> jobIds) {
    if (cache == null || jobIds.isEmpty()) {
      return Future.succeededFuture();
    }
    return Future.join(jobIds.stream().map(cache::evict).toList()).<Void>mapEmpty().otherwiseEmpty();
  }

  private Future<Void> removeFiles(List<Path> paths) {
    if (paths.isEmpty()) {
      return Future.succeededFuture();
    }
    return vertx.executeBlocking(() -> {
      paths.forEach(Retention::deleteTree);
      return null;
    }, false).mapEmpty();
  }

  static void deleteTree(Path path) {
    FileTrees.deleteTree(path);
  }
}
