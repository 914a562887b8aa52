package io.osprey.retention;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.jobs.StatusCache;
import io.osprey.storage.FileTrees;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes jobs and uploads, rows and files, on request (the DELETE routes) and by age (the retention sweep).
 * Rows go first, files after: a process that dies in between leaves only files without rows, which the sweep
 * (results folders) and the storage janitor (upload folders) remove later, never rows pointing at missing files.
 */
public final class Retention {
  private static final Logger LOG = LoggerFactory.getLogger(Retention.class);
  /** Rows deleted per statement, so one sweep never holds a long lock on a large table. */
  private static final int BATCH = 500;
  private static final String FINISHED = "('completed', 'failed', 'cancelled')";

  private final Vertx vertx;
  private final Pool pool;
  private final StatusCache cache;
  private final StorageLayout layout;
  private final Counter jobsRemoved;
  private final Counter uploadsRemoved;

  /** {@code cache}: the job status cache, emptied for every deleted job so status reads answer 404 at once. */
  public Retention(Vertx vertx, Pool pool, StatusCache cache, StorageLayout layout, MeterRegistry registry) {
    this.vertx = vertx;
    this.pool = pool;
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
    return pool.preparedQuery("DELETE FROM jobs WHERE job_id = $1 RETURNING job_id")
        .execute(Tuple.of(UUID.fromString(jobId)))
        .compose(rows -> rows.size() == 0 ? Future.succeededFuture(false)
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
    return pool.withTransaction(conn -> conn
        .preparedQuery("SELECT upload_id FROM uploads WHERE upload_id = $1 FOR UPDATE").execute(Tuple.of(id))
        .compose(found -> {
          if (found.size() == 0) {
            return Future.succeededFuture(UploadDeletion.NOT_FOUND);
          }
          return conn.preparedQuery("SELECT count(*) AS live FROM jobs WHERE upload_id = $1"
                  + " AND status IN ('queued', 'processing')").execute(Tuple.of(id))
              .compose(live -> {
                if (live.iterator().next().getLong("live") > 0) {
                  return Future.succeededFuture(UploadDeletion.IN_USE);
                }
                return conn.preparedQuery("DELETE FROM jobs WHERE upload_id = $1 RETURNING job_id")
                    .execute(Tuple.of(id))
                    .compose(jobs -> {
                      jobs.forEach(r -> jobsGone.add(r.getUUID("job_id").toString()));
                      return conn.preparedQuery("DELETE FROM uploads WHERE upload_id = $1").execute(Tuple.of(id));
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
    return deleteInBatches("DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE status IN " + FINISHED
            + " AND COALESCE(completed_at, failed_at, cancelled_at, updated_at) < now() - $1::float8 * interval '1 second'"
            + " LIMIT " + BATCH + ") RETURNING job_id", "job_id", seconds, 0, new ArrayList<>())
        .compose(jobs -> forgotten(jobs).compose(x -> removeFiles(jobs.stream().map(layout::resultsDir).toList()))
            .map(jobs.size()))
        .compose(jobs -> deleteInBatches("DELETE FROM uploads WHERE upload_id IN (SELECT u.upload_id FROM uploads u"
                + " WHERE u.created_at < now() - $1::float8 * interval '1 second'"
                + " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.upload_id = u.upload_id) LIMIT " + BATCH + ")"
                + " RETURNING upload_id", "upload_id", seconds, 0, new ArrayList<>())
            .compose(uploads -> removeFiles(uploads.stream().map(layout::uploadDir).toList())
                .map(new Removed(jobs, uploads.size()))))
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

  private Future<List<String>> deleteInBatches(String sql, String column, long seconds, int round,
                                               List<String> removed) {
    return pool.preparedQuery(sql).execute(Tuple.of((double) seconds)).compose((RowSet<Row> rows) -> {
      rows.forEach(r -> removed.add(r.getUUID(column).toString()));
      // Bounded: a sweep removes at most 200 batches; the next sweep continues.
      return rows.size() < BATCH || round >= 200 ? Future.succeededFuture(removed)
          : deleteInBatches(sql, column, seconds, round + 1, removed);
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
      UUID[] array = ids.stream().map(UUID::fromString).toArray(UUID[]::new);
      return pool.preparedQuery("SELECT job_id FROM jobs WHERE job_id = ANY($1)").execute(Tuple.of(array))
          .compose(rows -> {
            Set<String> kept = new java.util.HashSet<>();
            rows.forEach(r -> kept.add(r.getUUID("job_id").toString()));
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
