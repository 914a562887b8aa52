package io.osprey.jobs;

import static io.osprey.jobs.JobRoutes.databaseError;
import static io.osprey.storage.Ids.isUuid;
import static io.osprey.jobs.JobRoutes.jobNotFound;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestContract;
import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/** A job's status (from the status cache, else PostgreSQL), the caller's job list, and cancelling a job. */
final class JobStatusApi {
  private final JobRepository jobs;
  private final StatusCache cache;
  private final JobMetrics metrics;

  JobStatusApi(JobRepository jobs, StatusCache cache, JobMetrics metrics) {
    this.jobs = jobs;
    this.cache = cache;
    this.metrics = metrics;
  }

  void mount(Router router) {
    router.get("/api/v1/jobs").handler(this::list);
    router.get("/api/v1/jobs/:job_id/status").handler(this::status);
    router.post("/api/v1/jobs/:job_id/cancel").handler(this::cancel);
  }

  private void status(RoutingContext ctx) {
    String jobId = ctx.pathParam("job_id");
    if (!isUuid(jobId)) {
      jobNotFound(ctx, jobId);
      return;
    }
    cache.get(jobId).onComplete(cached -> {
      JsonObject entry = cached.succeeded() ? cached.result() : null;
      if (entry != null && CurrentUser.mayAccess(ctx, entry.getString("user_id"))) {
        Responses.json(ctx, 200, entry.getJsonObject("status"));
        return;
      }
      jobs.find(jobId).onFailure(e -> databaseError(ctx, e)).onSuccess(job -> {
        if (job == null || !CurrentUser.mayAccess(ctx, job.userId())) {
          jobNotFound(ctx, jobId);
          return;
        }
        cache.put(job);
        Responses.json(ctx, 200, job.statusJson());
      });
    });
  }

  /**
   * Callers without a token all share the owner {@code anonymous}; listing that owner's jobs would show everyone's
   * anonymous jobs to everyone, so the list needs a token. A job id stays a capability: whoever holds one reads
   * that job (status, results, visualization, events, files) without a token.
   */
  private void list(RoutingContext ctx) {
    if (CurrentUser.isAnonymous(ctx)) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      Responses.error(ctx, ApiError.of(ErrorCode.UNAUTHORIZED, "A token is needed to list jobs (send Authorization:"
          + " Bearer <token>); without one, read a job by the job_id that predict returned"));
      return;
    }
    // status (JobState), page and page_size (their ranges) are checked against listJobs in openapi.yaml.
    RequestContract.CheckedQuery q = RequestContract.of(ctx).checkQuery("listJobs", ctx.queryParams());
    if (!q.ok()) {
      Responses.error(ctx, RequestContract.invalid(q.problems()));
      return;
    }
    String status = q.string("status");
    int page = q.integer("page") == null ? 1 : q.integer("page").intValue();
    int size = q.integer("page_size") == null ? 20 : q.integer("page_size").intValue();
    jobs.list(CurrentUser.isAdmin(ctx) ? null : CurrentUser.of(ctx), status, size, (page - 1) * size)
        .onFailure(e -> databaseError(ctx, e))
        .onSuccess(p -> {
          JsonArray items = new JsonArray();
          p.jobs().forEach(j -> items.add(j.listJson()));
          Responses.json(ctx, 200, new JsonObject().put("jobs", items).put("page", page).put("page_size", size)
              .put("total", p.total()));
        });
  }

  private void cancel(RoutingContext ctx) {
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
      if (job.terminal()) {
        Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_CANCELLABLE, "Job " + jobId + " is already "
            + job.status() + "; finished jobs do not change").withDetails(new JsonObject().put("status",
            job.status())));
        return Future.succeededFuture();
      }
      return jobs.requestCancel(jobId).compose(changed -> jobs.find(jobId)).onSuccess(now -> {
        if (now.status().equals(JobRow.CANCELLED)) {
          metrics.jobCounted(JobRow.CANCELLED);
        }
        cache.put(now);
        JsonObject body = now.statusJson();
        if (now.status().equals(JobRow.PROCESSING)) {
          body.put("cancel_requested", true)
              .put("message", "The job stops after the image it is processing");
        }
        Responses.json(ctx, now.status().equals(JobRow.CANCELLED) ? 200 : 202, body);
      }).mapEmpty();
    }).onFailure(e -> databaseError(ctx, e));
  }

}
