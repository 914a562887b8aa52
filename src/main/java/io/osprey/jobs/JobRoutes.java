package io.osprey.jobs;

import static io.osprey.storage.Ids.isUuid;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the job routes share: id checks, the not-found and database answers, and finding a completed job. */
final class JobRoutes {
  private static final Logger LOG = LoggerFactory.getLogger(JobRoutes.class);

  private JobRoutes() {
  }

  /** Runs {@code then} with the route's job when the caller may read it and it completed; answers otherwise. */
  static void withCompletedJob(RoutingContext ctx, JobRepository jobs, Consumer<JobRow> then) {
    String jobId = ctx.pathParam("job_id");
    if (!isUuid(jobId)) {
      jobNotFound(ctx, jobId);
      return;
    }
    jobs.find(jobId).onFailure(e -> databaseError(ctx, e)).onSuccess(job -> {
      if (job == null || !CurrentUser.mayAccess(ctx, job.userId())) {
        jobNotFound(ctx, jobId);
      } else if (!job.status().equals(JobRow.COMPLETED)) {
        Responses.error(ctx, ApiError.of(ErrorCode.RESULTS_NOT_READY, "Results not ready: job " + jobId + " is "
            + job.status()).withDetails(new JsonObject().put("status", job.status())));
      } else {
        then.accept(job);
      }
    });
  }

  static void jobNotFound(RoutingContext ctx, String jobId) {
    Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_FOUND, "Job not found: " + jobId));
  }

  static void fileNotFound(RoutingContext ctx, String fileId) {
    Responses.error(ctx, ApiError.of(ErrorCode.FILE_NOT_FOUND, "File not found: " + fileId));
  }

  static void databaseError(RoutingContext ctx, Throwable e) {
    if (io.osprey.storage.DatabaseFailures.unavailable(e)) {
      LOG.warn("rid={} database unavailable: {}", RequestIds.of(ctx), e.toString());
    } else {
      LOG.error("rid={} database call failed: {}", RequestIds.of(ctx), e.toString());
    }
    Responses.error(ctx, io.osprey.http.DatabaseErrors.map(e,
        ApiError.of(ErrorCode.SERVICE_UNAVAILABLE, "Database unavailable; retry shortly")));
  }
}
