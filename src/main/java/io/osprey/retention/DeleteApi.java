package io.osprey.retention;

import static io.osprey.storage.Ids.isUuid;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.jobs.JobMetrics;
import io.osprey.jobs.JobRepository;
import io.osprey.jobs.JobRow;
import io.osprey.jobs.StatusCache;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code DELETE /api/v1/jobs/{id}} and {@code DELETE /api/v1/inference/uploads/{id}}. Who may delete is who may
 * read: the owner, a holder of ADM, and, for anonymous jobs and uploads, whoever holds the id (README "Anonymous
 * access": an id is a capability, as for status, results and cancel). Someone else's job or upload answers 404, as
 * every other route does, so ids of others are not confirmed.
 */
public final class DeleteApi {
  private static final Logger LOG = LoggerFactory.getLogger(DeleteApi.class);
  private static final long POLL_MS = 200;

  private final Vertx vertx;
  private final JobRepository jobs;
  private final StatusCache cache;
  private final JobMetrics metrics;
  private final Retention retention;
  private final long cancelWaitMs;

  /** {@code cancelWaitMs}: how long a delete of a processing job waits for its worker to stop after the image. */
  public DeleteApi(Vertx vertx, JobRepository jobs, StatusCache cache, JobMetrics metrics, Retention retention,
                   long cancelWaitMs) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.cache = cache;
    this.metrics = metrics;
    this.retention = retention;
    this.cancelWaitMs = cancelWaitMs;
  }

  public void mount(Router router) {
    router.delete("/api/v1/jobs/:job_id").handler(this::deleteJob);
    router.delete("/api/v1/inference/uploads/:upload_id").handler(this::deleteUpload);
  }

  private void deleteJob(RoutingContext ctx) {
    String jobId = ctx.pathParam("job_id");
    if (!isUuid(jobId)) {
      jobNotFound(ctx, jobId);
      return;
    }
    jobs.find(jobId).compose(job -> {
      if (job == null || !CurrentUser.mayAccess(ctx, job.userId())) {
        jobNotFound(ctx, jobId);
        return Future.succeededFuture();
      }
      return stopped(job)
          .compose(x -> retention.deleteJob(jobId))
          .onSuccess(x -> {
            LOG.info("rid={} job {} deleted by {}", RequestIds.of(ctx), jobId, CurrentUser.of(ctx));
            ctx.response().setStatusCode(204).end();
          });
    }).onFailure(e -> failed(ctx, e));
  }

  /**
   * The cancel path of {@code POST /jobs/{id}/cancel}: a queued job is cancelled at once; a processing one is
   * flagged and its worker stops after the current image, which is waited for (bounded), so the worker does not
   * write results of a job whose rows are gone. A worker that does not stop in time (dead, or a very long image)
   * leaves at most a results folder, which the retention sweep removes as an orphan.
   */
  private Future<Void> stopped(JobRow job) {
    if (job.terminal()) {
      return Future.succeededFuture();
    }
    return jobs.requestCancel(job.jobId()).compose(row -> {
      if (row != null && row.status().equals(JobRow.CANCELLED)) {
        metrics.jobCounted(JobRow.CANCELLED);
        cache.put(row);
        return Future.succeededFuture();
      }
      Promise<Void> done = Promise.promise();
      poll(job.jobId(), System.currentTimeMillis() + cancelWaitMs, done);
      return done.future();
    });
  }

  private void poll(String jobId, long deadline, Promise<Void> done) {
    jobs.find(jobId).onFailure(done::fail).onSuccess(now -> {
      if (now == null || now.terminal()) {
        done.tryComplete();
      } else if (System.currentTimeMillis() >= deadline) {
        LOG.warn("job {} still {} {} ms after its cancel was requested; deleting it anyway", jobId, now.status(),
            cancelWaitMs);
        done.tryComplete();
      } else {
        vertx.setTimer(POLL_MS, t -> poll(jobId, deadline, done));
      }
    });
  }

  private void deleteUpload(RoutingContext ctx) {
    String uploadId = ctx.pathParam("upload_id");
    if (!isUuid(uploadId)) {
      uploadNotFound(ctx, uploadId);
      return;
    }
    jobs.uploadOwner(uploadId).compose(owner -> {
      if (owner == null || !CurrentUser.mayAccess(ctx, owner)) {
        uploadNotFound(ctx, uploadId);
        return Future.succeededFuture();
      }
      return retention.deleteUpload(uploadId).onSuccess(result -> {
        switch (result) {
          case NOT_FOUND -> uploadNotFound(ctx, uploadId);
          case IN_USE -> Responses.error(ctx, ApiError.of(ErrorCode.UPLOAD_IN_USE, "Upload " + uploadId
              + " is used by a queued or processing job; cancel or wait for it, then delete"));
          default -> {
            LOG.info("rid={} upload {} deleted by {}", RequestIds.of(ctx), uploadId, CurrentUser.of(ctx));
            ctx.response().setStatusCode(204).end();
          }
        }
      }).mapEmpty();
    }).onFailure(e -> failed(ctx, e));
  }

  private static void failed(RoutingContext ctx, Throwable e) {
    LOG.error("rid={} delete failed: {}", RequestIds.of(ctx), e.toString());
    if (!ctx.response().ended()) {
      Responses.error(ctx, io.osprey.http.DatabaseErrors.map(e,
          ApiError.of(ErrorCode.SERVICE_UNAVAILABLE, "Database unavailable; retry shortly")));
    }
  }

  private static void jobNotFound(RoutingContext ctx, String jobId) {
    Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_FOUND, "Job not found: " + jobId));
  }

  private static void uploadNotFound(RoutingContext ctx, String uploadId) {
    Responses.error(ctx, ApiError.of(ErrorCode.UPLOAD_NOT_FOUND, "Upload not found: " + uploadId));
  }
}
