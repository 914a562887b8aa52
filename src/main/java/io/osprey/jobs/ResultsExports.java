package io.osprey.jobs;

import static io.osprey.jobs.JobRoutes.withCompletedJob;

import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
import io.osprey.http.PagedExport;
import io.osprey.http.Responses;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.Set;

/** {@code GET /api/v1/jobs/:job_id/results}: a completed job's results as JSON, COCO or a YOLO zip, streamed. */
final class ResultsExports {
  static final int PAGE_ROWS = 200;
  private final Vertx vertx;
  private final JobRepository jobs;
  private final StorageLayout layout;

  ResultsExports(Vertx vertx, JobRepository jobs, StorageLayout layout) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.layout = layout;
  }

  void mount(Router router) {
    router.get("/api/v1/jobs/:job_id/results").handler(this::results);
  }

  private void results(RoutingContext ctx) {
    String format = ctx.queryParams().get("format") == null ? "json" : ctx.queryParams().get("format");
    if (!Set.of("json", "yolo", "coco").contains(format)) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "format must be json, yolo or coco"));
      return;
    }
    withCompletedJob(ctx, jobs, job -> {
      ExportFormat export = switch (format) {
        case "yolo" -> new ExportFormat.Yolo(job, layout);
        case "coco" -> new ExportFormat.Coco(job, layout);
        default -> new ExportFormat.Json(job, layout);
      };
      new PagedExport<>(vertx, ctx, PAGE_ROWS, (after, limit) -> jobs.results(job.jobId(), after, limit), export,
          response -> {
            if (format.equals("yolo")) {
              response.putHeader("Content-Type", "application/zip")
                  .putHeader("Content-Disposition", "attachment; filename=\"" + job.jobId() + "-yolo.zip\"");
            } else {
              response.putHeader("Content-Type", "application/json; charset=utf-8");
            }
          }, "results of job " + job.jobId()).start();
    });
  }
}
