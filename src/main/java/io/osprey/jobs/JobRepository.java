package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Owns {@code jobs} and {@code job_results}. Every state change is one conditional UPDATE on the current status,
 * so terminal states never change and two processes racing on one job cannot both win.
 */
public final class JobRepository {
  private final Pool pool;

  public JobRepository(Pool pool) {
    this.pool = pool;
  }

  /** A file of an upload as jobs need it. */
  public record UploadedFile(String fileId, int position, String filename, int width, int height, String format,
                             String storagePath) {
  }

  /** Processed image of a job, joined with its file. */
  public record ResultRow(String fileId, int position, String filename, int width, int height, String storagePath,
                          int detectionCount, Double meanConfidence, boolean annotated) {
  }

  public Future<List<UploadedFile>> uploadFiles(String uploadId) {
    return pool.preparedQuery("SELECT file_id, position, filename, width, height, format, storage_path"
            + " FROM uploaded_files WHERE upload_id = $1 ORDER BY position")
        .execute(Tuple.of(UUID.fromString(uploadId)))
        .map(rows -> {
          List<UploadedFile> files = new ArrayList<>();
          for (Row r : rows) {
            files.add(new UploadedFile(r.getUUID("file_id").toString(), r.getInteger("position"),
                r.getString("filename"), r.getInteger("width"), r.getInteger("height"), r.getString("format"),
                r.getString("storage_path")));
          }
          return files;
        });
  }

  /** Owner of an upload, or null when there is no such upload. */
  public Future<String> uploadOwner(String uploadId) {
    return pool.preparedQuery("SELECT user_id FROM uploads WHERE upload_id = $1")
        .execute(Tuple.of(UUID.fromString(uploadId)))
        .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getString("user_id"));
  }

  public Future<JobRow> insert(String jobId, String userId, String uploadId, List<String> fileIds, JsonObject config) {
    UUID[] files = fileIds.stream().map(UUID::fromString).toArray(UUID[]::new);
    return one(pool.preparedQuery("INSERT INTO jobs (job_id, user_id, upload_id, file_ids, status, config,"
            + " total_images) VALUES ($1, $2, $3, $4, 'queued', $5, $6) RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), userId, UUID.fromString(uploadId), files, config, files.length)));
  }

  public Future<JobRow> find(String jobId) {
    return one(pool.preparedQuery("SELECT " + JobRow.COLUMNS + " FROM jobs WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId))));
  }

  public Future<Void> markEnqueued(String jobId) {
    return pool.preparedQuery("UPDATE jobs SET enqueued = true WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId))).mapEmpty();
  }

  /** Queued jobs never handed to the broker (it was down at predict time), oldest first. */
  public Future<List<String>> notEnqueued(int limit) {
    return pool.preparedQuery("SELECT job_id FROM jobs WHERE status = 'queued' AND NOT enqueued"
            + " ORDER BY created_at LIMIT $1")
        .execute(Tuple.of(limit))
        .map(rows -> {
          List<String> ids = new ArrayList<>();
          rows.forEach(r -> ids.add(r.getUUID("job_id").toString()));
          return ids;
        });
  }

  /** Fails queued jobs older than the cutoff (spec: queued, timeout, failed). */
  public Future<List<JobRow>> failQueuedBefore(OffsetDateTime cutoff, JsonObject error) {
    return many(pool.preparedQuery("UPDATE jobs SET status = 'failed', failed_at = now(), updated_at = now(),"
            + " error = $2 WHERE status = 'queued' AND created_at < $1 RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(cutoff, error)));
  }

  /**
   * A worker takes the job: queued, or processing after a worker died on it. Null when it is terminal (cancelled
   * while queued, or already done by another delivery).
   */
  public Future<JobRow> start(String jobId) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'processing', started_at = COALESCE(started_at, now()),"
            + " updated_at = now(), attempts = attempts + 1, current_stage = 'Loading model'"
            + " WHERE job_id = $1 AND status IN ('queued', 'processing') RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId))));
  }

  /** Records one more finished image; returns whether a cancel was requested meanwhile. */
  public Future<JobRow> progress(String jobId, int processed, String stage) {
    return one(pool.preparedQuery("UPDATE jobs SET processed_images = $2, current_stage = $3, updated_at = now()"
            + " WHERE job_id = $1 AND status = 'processing' RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), processed, stage)));
  }

  public Future<JobRow> complete(String jobId, JsonObject summary) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'completed', completed_at = now(), updated_at = now(),"
            + " processed_images = total_images, current_stage = null, summary = $2"
            + " WHERE job_id = $1 AND status = 'processing' RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), summary)));
  }

  public Future<JobRow> fail(String jobId, JsonObject error) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'failed', failed_at = now(), updated_at = now(),"
            + " current_stage = null, error = $2 WHERE job_id = $1 AND status IN ('queued', 'processing')"
            + " RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), error)));
  }

  /** Queued: cancelled at once. Processing: flagged, the worker stops after its current image. */
  public Future<JobRow> requestCancel(String jobId) {
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE jobs SET status = 'cancelled',"
            + " cancelled_at = now(), updated_at = now() WHERE job_id = $1 AND status = 'queued' RETURNING "
            + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId)))
        .compose(rows -> rows.size() > 0 ? Future.succeededFuture(JobRow.from(rows.iterator().next()))
            : conn.preparedQuery("UPDATE jobs SET cancel_requested = true, updated_at = now()"
                    + " WHERE job_id = $1 AND status = 'processing' RETURNING " + JobRow.COLUMNS)
                .execute(Tuple.of(UUID.fromString(jobId)))
                .map(r -> r.size() > 0 ? JobRow.from(r.iterator().next()) : null)));
  }

  public Future<JobRow> finishCancelled(String jobId) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'cancelled', cancelled_at = now(), updated_at = now(),"
            + " current_stage = null WHERE job_id = $1 AND status = 'processing' RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId))));
  }

  /** Replaces the result row of an image (a re-run overwrites, never duplicates). */
  public Future<Void> saveResult(String jobId, String fileId, int position, int count, Double meanConfidence,
                                 boolean annotated) {
    return pool.preparedQuery("INSERT INTO job_results (job_id, file_id, position, detection_count,"
            + " mean_confidence, annotated) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, file_id) DO UPDATE"
            + " SET detection_count = EXCLUDED.detection_count, mean_confidence = EXCLUDED.mean_confidence,"
            + " annotated = EXCLUDED.annotated, processed_at = now()")
        .execute(Tuple.of(UUID.fromString(jobId), UUID.fromString(fileId), position, count, meanConfidence,
            annotated))
        .mapEmpty();
  }

  /** Forgets the per-image results of a job that failed (its files are removed by the caller). */
  public Future<Void> clearResults(String jobId) {
    return pool.preparedQuery("DELETE FROM job_results WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId))).mapEmpty();
  }

  public Future<List<ResultRow>> results(String jobId) {
    return pool.preparedQuery("SELECT r.file_id, r.position, f.filename, f.width, f.height, f.storage_path,"
            + " r.detection_count, r.mean_confidence, r.annotated FROM job_results r"
            + " JOIN uploaded_files f ON f.file_id = r.file_id WHERE r.job_id = $1 ORDER BY r.position")
        .execute(Tuple.of(UUID.fromString(jobId)))
        .map(rows -> {
          List<ResultRow> out = new ArrayList<>();
          for (Row r : rows) {
            out.add(new ResultRow(r.getUUID("file_id").toString(), r.getInteger("position"),
                r.getString("filename"), r.getInteger("width"), r.getInteger("height"), r.getString("storage_path"),
                r.getInteger("detection_count"), r.getDouble("mean_confidence"), r.getBoolean("annotated")));
          }
          return out;
        });
  }

  /** A stored file with its owner, and the newest job that annotated it (null when none did). */
  public record FileInfo(String fileId, String userId, String storagePath, String format, String latestJobId) {
  }

  public Future<FileInfo> file(String fileId, String jobId) {
    String job = jobId == null
        ? "(SELECT r.job_id FROM job_results r WHERE r.file_id = f.file_id AND r.annotated"
            + " ORDER BY r.processed_at DESC LIMIT 1)"
        : "(SELECT r.job_id FROM job_results r WHERE r.file_id = f.file_id AND r.job_id = $2)";
    Tuple args = jobId == null ? Tuple.of(UUID.fromString(fileId))
        : Tuple.of(UUID.fromString(fileId), UUID.fromString(jobId));
    return pool.preparedQuery("SELECT f.file_id, u.user_id, f.storage_path, f.format, " + job + " AS job_id"
            + " FROM uploaded_files f JOIN uploads u ON u.upload_id = f.upload_id WHERE f.file_id = $1")
        .execute(args)
        .map(rows -> {
          if (rows.size() == 0) {
            return null;
          }
          Row r = rows.iterator().next();
          UUID latest = r.getUUID("job_id");
          return new FileInfo(r.getUUID("file_id").toString(), r.getString("user_id"), r.getString("storage_path"),
              r.getString("format"), latest == null ? null : latest.toString());
        });
  }

  public record Page(List<JobRow> jobs, long total) {
  }

  public Future<Page> list(String userId, String status, int limit, int offset) {
    return pool.preparedQuery("SELECT " + JobRow.COLUMNS + ", count(*) OVER () AS total FROM jobs"
            + " WHERE ($3::text IS NULL OR user_id = $3) AND ($4::text IS NULL OR status = $4)"
            + " ORDER BY created_at DESC LIMIT $1 OFFSET $2")
        .execute(Tuple.of(limit, offset, userId, status))
        .map(rows -> {
          List<JobRow> jobs = new ArrayList<>();
          long total = 0;
          for (Row r : rows) {
            jobs.add(JobRow.from(r));
            total = r.getLong("total");
          }
          return new Page(jobs, total);
        });
  }

  /** Figures for the monitoring dashboard, over the last hour. */
  public Future<JsonObject> dashboardStats() {
    return pool.query("SELECT"
            + " count(*) FILTER (WHERE status = 'queued') AS queued,"
            + " count(*) FILTER (WHERE status = 'processing') AS processing,"
            + " count(*) FILTER (WHERE status = 'completed' AND completed_at > now() - interval '1 hour')"
            + "   AS completed_last_hour,"
            + " count(*) FILTER (WHERE status = 'failed' AND failed_at > now() - interval '1 hour') AS failed_last_hour,"
            + " avg(extract(epoch FROM completed_at - started_at)) FILTER (WHERE status = 'completed'"
            + "   AND completed_at > now() - interval '1 hour') AS avg_duration"
            + " FROM jobs")
        .execute()
        .map(rows -> {
          Row r = rows.iterator().next();
          Number avg = r.getNumeric("avg_duration");
          return new JsonObject()
              .put("queued_jobs", r.getLong("queued"))
              .put("processing_jobs", r.getLong("processing"))
              .put("completed_last_hour", r.getLong("completed_last_hour"))
              .put("failed_last_hour", r.getLong("failed_last_hour"))
              .put("avg_duration_seconds", avg == null ? null : Math.round(avg.doubleValue() * 100) / 100.0);
        });
  }

  private static Future<JobRow> one(Future<RowSet<Row>> rows) {
    return rows.map(r -> r.size() == 0 ? null : JobRow.from(r.iterator().next()));
  }

  private static Future<List<JobRow>> many(Future<RowSet<Row>> rows) {
    return rows.map(r -> {
      List<JobRow> out = new ArrayList<>();
      r.forEach(row -> out.add(JobRow.from(row)));
      return out;
    });
  }
}
