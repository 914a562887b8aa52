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

  /**
   * Jobs to hand to the broker: queued ones it never got (it was down at predict time), and processing ones whose
   * expired lease the sweep cleared; oldest first. Only rows unchanged for 10 s: predict and a graceful hand-back
   * publish the job themselves right after their write and mark it enqueued after the broker's confirm, so a
   * younger row is most likely on its way already (taking it too would publish it twice).
   */
  private static final String NOT_ENQUEUED = "SELECT job_id FROM jobs WHERE NOT enqueued"
      + " AND updated_at < now() - interval '10 seconds' AND (status = 'queued'"
      + " OR (status = 'processing' AND lease_owner IS NULL)) ORDER BY created_at LIMIT $1";

  public JobRepository(Pool pool) {
    this.pool = pool;
  }

  /** A file of an upload as jobs need it. */
  public record UploadedFile(String fileId, int position, String filename, int width, int height, String format,
                             String storagePath) {
  }

  /**
   * Processed image of a job, joined with its file.
   *
   * @param device where its inference ran ("cuda" or "cpu"); null for rows stored before devices were recorded
   */
  public record ResultRow(String fileId, int position, String filename, int width, int height, String storagePath,
                          int detectionCount, Double meanConfidence, boolean annotated, String device) {
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

  /**
   * Hands the broker the jobs it lacks ({@link #NOT_ENQUEUED}), oldest first, at most {@code limit}: each is
   * published, then marked enqueued; the ids handed over. API and worker processes all do this (a deployment of only
   * workers must hand on a dead worker's job too), and "select, publish, mark" is not one statement, so it runs while
   * holding this database's republisher advisory lock, on a connection of its own that also carries the select and
   * the marks (so it needs one pool connection only). Another process holding the lock: nothing is done (an empty
   * list). A process that dies holding it loses its connection, and PostgreSQL releases the lock with it.
   */
  public Future<List<String>> republishUnderLock(int limit, java.util.function.Function<String, Future<Void>> publish) {
    return pool.withConnection(conn -> conn.query("SELECT pg_try_advisory_lock(hashtext('osprey-job-republish'))")
        .execute()
        .compose(locked -> {
          if (!locked.iterator().next().getBoolean(0)) {
            return Future.succeededFuture(List.<String>of());
          }
          List<String> handed = new ArrayList<>();
          Future<Void> work = conn.preparedQuery(NOT_ENQUEUED).execute(Tuple.of(limit)).compose(rows -> {
            Future<Void> chain = Future.succeededFuture();
            for (Row r : rows) {
              String id = r.getUUID("job_id").toString();
              chain = chain.compose(x -> publish.apply(id))
                  .compose(x -> conn.preparedQuery("UPDATE jobs SET enqueued = true WHERE job_id = $1")
                      .execute(Tuple.of(UUID.fromString(id))))
                  .map(x -> {
                    handed.add(id);
                    return null;
                  });
            }
            return chain;
          });
          // Unlocked on this same connection (a session-level lock), whatever the outcome.
          return work.transform(r -> conn.query("SELECT pg_advisory_unlock(hashtext('osprey-job-republish'))")
              .execute().transform(x -> r.succeeded() ? Future.succeededFuture(handed)
                  : Future.<List<String>>failedFuture(r.cause())));
        }));
  }

  /** Fails queued jobs older than the cutoff (spec: queued, timeout, failed). */
  public Future<List<JobRow>> failQueuedBefore(OffsetDateTime cutoff, JsonObject error) {
    return many(pool.preparedQuery("UPDATE jobs SET status = 'failed', failed_at = now(), updated_at = now(),"
            + " error = $2 WHERE status = 'queued' AND created_at < $1 RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(cutoff, error)));
  }

  /**
   * A worker takes the job and its lease: queued, or processing with no live lease (its worker died, or the sweep
   * handed it back). Null when it is terminal (cancelled while queued, or already done) or another worker holds a
   * live lease on it (a second delivery of a job that runs). Every take counts in {@code attempts}.
   */
  public Future<JobRow> takeLease(String jobId, String owner, int leaseSeconds) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'processing', started_at = COALESCE(started_at, now()),"
            + " updated_at = now(), attempts = attempts + 1, current_stage = 'Loading model', lease_owner = $2,"
            + " lease_expires_at = now() + make_interval(secs => $3::int)"
            + " WHERE job_id = $1 AND status IN ('queued', 'processing')"
            + " AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())"
            + " RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), owner, leaseSeconds)));
  }

  /**
   * A stopping worker gives a job back gracefully: the lease is cleared at once (no wait for it to lapse and be
   * swept), the take is uncounted ({@code attempts - 1}: a graceful hand-back is not a worker failure and never
   * brings the job nearer jobs.max_deliveries), and the job is marked not enqueued, so the maintenance
   * republisher hands it to the broker if the caller's own publish does not get there. Its results stay; the next
   * take resumes after them. Null when this worker no longer holds the job (it ended, or was swept).
   */
  public Future<JobRow> handBackLease(String jobId, String owner) {
    return one(pool.preparedQuery("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, enqueued = false,"
            + " attempts = GREATEST(attempts - 1, 0), updated_at = now(),"
            + " current_stage = 'Waiting for a worker (the previous one stopped gracefully)'"
            + " WHERE job_id = $1 AND lease_owner = $2 AND status = 'processing' RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), owner)));
  }

  /** The lease held on a job: its owner and expiry (null fields when none). */
  public record Lease(String status, String owner, OffsetDateTime expiresAt) {
  }

  public Future<Lease> lease(String jobId) {
    return pool.preparedQuery("SELECT status, lease_owner, lease_expires_at FROM jobs WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId)))
        .map(rows -> {
          if (rows.size() == 0) {
            return null;
          }
          Row r = rows.iterator().next();
          return new Lease(r.getString("status"), r.getString("lease_owner"), r.getOffsetDateTime("lease_expires_at"));
        });
  }

  /** Extends the owner's lease; false when it no longer holds it (swept, or the job left processing). */
  public Future<Boolean> renewLease(String jobId, String owner, int leaseSeconds) {
    return pool.preparedQuery("UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::int)"
            + " WHERE job_id = $1 AND lease_owner = $2 AND status = 'processing'")
        .execute(Tuple.of(UUID.fromString(jobId), owner, leaseSeconds))
        .map(rows -> rows.rowCount() > 0);
  }

  /** Lets the owner's lease expire now, so the next sweep hands the job to the broker again. */
  public Future<Void> releaseLease(String jobId, String owner) {
    return pool.preparedQuery("UPDATE jobs SET lease_expires_at = now() WHERE job_id = $1 AND lease_owner = $2"
            + " AND status = 'processing'")
        .execute(Tuple.of(UUID.fromString(jobId), owner)).mapEmpty();
  }

  /**
   * Clears the leases that expired (their worker died or stalled) and marks those jobs for publishing again; each
   * returned job counts one more lease expiry. The republisher then hands them to the broker.
   */
  public Future<List<JobRow>> sweepExpiredLeases() {
    return many(pool.query("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, enqueued = false,"
            + " lease_expiries = lease_expiries + 1, updated_at = now(),"
            + " current_stage = 'Waiting for a worker (the previous one stopped)'"
            + " WHERE status = 'processing' AND lease_expires_at < now() RETURNING " + JobRow.COLUMNS)
        .execute());
  }

  /** Records one more finished image while the owner holds the job; null when it no longer does. */
  public Future<JobRow> progress(String jobId, String owner, int processed, String stage) {
    return one(pool.preparedQuery("UPDATE jobs SET processed_images = $2, current_stage = $3, updated_at = now()"
            + " WHERE job_id = $1 AND status = 'processing' AND lease_owner = $4 RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), processed, stage, owner)));
  }

  public Future<JobRow> complete(String jobId, String owner, JsonObject summary) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'completed', completed_at = now(), updated_at = now(),"
            + " processed_images = total_images, current_stage = null, summary = $2, lease_owner = null,"
            + " lease_expires_at = null WHERE job_id = $1 AND status = 'processing' AND lease_owner = $3"
            + " RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), summary, owner)));
  }

  /** Fails the job; with an owner, only while that worker holds it (null owner: whoever holds it). */
  public Future<JobRow> fail(String jobId, String owner, JsonObject error) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'failed', failed_at = now(), updated_at = now(),"
            + " current_stage = null, error = $2, lease_owner = null, lease_expires_at = null"
            + " WHERE job_id = $1 AND status IN ('queued', 'processing') AND ($3::text IS NULL OR lease_owner = $3)"
            + " RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), error, owner)));
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

  public Future<JobRow> finishCancelled(String jobId, String owner) {
    return one(pool.preparedQuery("UPDATE jobs SET status = 'cancelled', cancelled_at = now(), updated_at = now(),"
            + " current_stage = null, lease_owner = null, lease_expires_at = null"
            + " WHERE job_id = $1 AND status = 'processing' AND lease_owner = $2 RETURNING " + JobRow.COLUMNS)
        .execute(Tuple.of(UUID.fromString(jobId), owner)));
  }

  /**
   * Replaces the result row of an image (a re-run overwrites, never duplicates), only while the owner holds the
   * job: a worker that lost its lease, or whose job failed or completed meanwhile, adds nothing.
   */
  public Future<Void> saveResult(String jobId, String owner, String fileId, int position, int count,
                                 Double meanConfidence, boolean annotated, String device) {
    return pool.preparedQuery("INSERT INTO job_results (job_id, file_id, position, detection_count,"
            + " mean_confidence, annotated, device) SELECT $1::uuid, $2::uuid, $3::int, $4::int, $5::float8,"
            + " $6::boolean, $8::text WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = $1::uuid"
            + " AND status = 'processing' AND lease_owner = $7::text) ON CONFLICT (job_id, file_id) DO UPDATE"
            + " SET detection_count = EXCLUDED.detection_count, mean_confidence = EXCLUDED.mean_confidence,"
            + " annotated = EXCLUDED.annotated, device = EXCLUDED.device, processed_at = now()")
        .execute(Tuple.of(UUID.fromString(jobId), UUID.fromString(fileId), position, count, meanConfidence,
            annotated, owner, device))
        .mapEmpty();
  }

  /** Forgets the per-image results of a job that failed (its files are removed by the caller). */
  public Future<Void> clearResults(String jobId) {
    return pool.preparedQuery("DELETE FROM job_results WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId))).mapEmpty();
  }

  private static final String RESULT_COLUMNS = "SELECT r.file_id, r.position, f.filename, f.width, f.height,"
      + " f.storage_path, r.detection_count, r.mean_confidence, r.annotated, r.device FROM job_results r"
      + " JOIN uploaded_files f ON f.file_id = r.file_id WHERE r.job_id = $1";

  public Future<List<ResultRow>> results(String jobId) {
    return pool.preparedQuery(RESULT_COLUMNS + " ORDER BY r.position, r.file_id")
        .execute(Tuple.of(UUID.fromString(jobId)))
        .map(JobRepository::resultRows);
  }

  /**
   * Up to {@code limit} result rows of a job that come after {@code after} (null: from the first), in the order of
   * {@link #results}: exports page through a large job instead of loading every row at once.
   */
  public Future<List<ResultRow>> results(String jobId, ResultRow after, int limit) {
    if (after == null) {
      return pool.preparedQuery(RESULT_COLUMNS + " ORDER BY r.position, r.file_id LIMIT $2")
          .execute(Tuple.of(UUID.fromString(jobId), limit))
          .map(JobRepository::resultRows);
    }
    return pool.preparedQuery(RESULT_COLUMNS + " AND (r.position, r.file_id) > ($2, $3)"
            + " ORDER BY r.position, r.file_id LIMIT $4")
        .execute(Tuple.of(UUID.fromString(jobId), after.position(), UUID.fromString(after.fileId()), limit))
        .map(JobRepository::resultRows);
  }

  private static List<ResultRow> resultRows(RowSet<Row> rows) {
    List<ResultRow> out = new ArrayList<>();
    for (Row r : rows) {
      out.add(new ResultRow(r.getUUID("file_id").toString(), r.getInteger("position"),
          r.getString("filename"), r.getInteger("width"), r.getInteger("height"), r.getString("storage_path"),
          r.getInteger("detection_count"), r.getDouble("mean_confidence"), r.getBoolean("annotated"),
          r.getString("device")));
    }
    return out;
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

  // ------------------------------------------------------------------ deletion (retention and the DELETE routes)

  /** Finished: a job in one of these states never changes again, and the retention sweep may remove it. */
  private static final String FINISHED = "('completed', 'failed', 'cancelled')";

  /** Deletes a job (its results cascade); false when there was no such job. */
  public Future<Boolean> delete(UUID jobId) {
    return pool.preparedQuery("DELETE FROM jobs WHERE job_id = $1 RETURNING job_id").execute(Tuple.of(jobId))
        .map(rows -> rows.size() > 0);
  }

  /**
   * Deletes at most {@code limit} finished jobs whose end (completion, failure or cancellation) is more than
   * {@code seconds} ago; answers their ids.
   */
  public Future<List<String>> deleteFinishedBefore(long seconds, int limit) {
    return pool.preparedQuery("DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE status IN " + FINISHED
            + " AND COALESCE(completed_at, failed_at, cancelled_at, updated_at) < now() - $1::float8 * interval '1 second'"
            + " LIMIT $2) RETURNING job_id")
        .execute(Tuple.of((double) seconds, limit)).map(JobRepository::jobIds);
  }

  /** Whether a queued or processing job uses the upload, on {@code conn} (inside the caller's transaction). */
  public static Future<Boolean> uploadInUse(io.vertx.sqlclient.SqlConnection conn, UUID uploadId) {
    return conn.preparedQuery("SELECT count(*) AS live FROM jobs WHERE upload_id = $1"
            + " AND status IN ('queued', 'processing')").execute(Tuple.of(uploadId))
        .map(rows -> rows.iterator().next().getLong("live") > 0);
  }

  /** Deletes every job of an upload on {@code conn} (inside the caller's transaction); answers their ids. */
  public static Future<List<String>> deleteOfUpload(io.vertx.sqlclient.SqlConnection conn, UUID uploadId) {
    return conn.preparedQuery("DELETE FROM jobs WHERE upload_id = $1 RETURNING job_id").execute(Tuple.of(uploadId))
        .map(JobRepository::jobIds);
  }

  /** Which of these job ids have a row. */
  public Future<java.util.Set<String>> existing(List<String> jobIds) {
    UUID[] array = jobIds.stream().map(UUID::fromString).toArray(UUID[]::new);
    return pool.preparedQuery("SELECT job_id FROM jobs WHERE job_id = ANY($1)").execute(Tuple.of(array))
        .map(rows -> new java.util.HashSet<>(jobIds(rows)));
  }

  private static List<String> jobIds(RowSet<Row> rows) {
    List<String> ids = new ArrayList<>();
    rows.forEach(r -> ids.add(r.getUUID("job_id").toString()));
    return ids;
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
