package io.osprey.jobs;

import static io.osprey.jobs.JobRoutes.databaseError;
import static io.osprey.jobs.JobRoutes.fileNotFound;
import static io.osprey.storage.Ids.isUuid;
import static io.osprey.jobs.JobRoutes.withCompletedJob;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.Responses;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.nio.file.Path;

/**
 * A completed job's visualization list and the images behind it: originals, annotated images and thumbnails,
 * sent from disk with an ETag.
 */
final class JobFilesApi {
  private final Vertx vertx;
  private final JobRepository jobs;
  private final StorageLayout layout;

  JobFilesApi(Vertx vertx, JobRepository jobs, StorageLayout layout) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.layout = layout;
  }

  void mount(Router router) {
    router.get("/api/v1/jobs/:job_id/visualization").handler(this::visualization);
    router.get("/api/v1/files/:file_id/original").handler(ctx -> file(ctx, "original"));
    router.get("/api/v1/files/:file_id/annotated").handler(ctx -> file(ctx, "annotated"));
    router.get("/api/v1/files/:file_id/thumbnail").handler(ctx -> file(ctx, "thumbnail"));
  }

  private void visualization(RoutingContext ctx) {
    withCompletedJob(ctx, jobs, job -> jobs.results(job.jobId()).onFailure(e -> databaseError(ctx, e))
        .onSuccess(rows -> {
      JsonArray list = new JsonArray();
      for (JobRepository.ResultRow r : rows) {
        String base = "/api/v1/files/" + r.fileId();
        list.add(new JsonObject()
            .put("file_id", r.fileId())
            .put("filename", r.filename())
            .put("original_url", base + "/original")
            .put("annotated_url", r.annotated() ? base + "/annotated?job_id=" + job.jobId() : null)
            .put("thumbnail_url", r.annotated() ? base + "/thumbnail?job_id=" + job.jobId() : null)
            .put("detection_count", r.detectionCount()));
      }
      Responses.json(ctx, 200, new JsonObject().put("job_id", job.jobId()).put("visualizations", list));
    }));
  }

  private void file(RoutingContext ctx, String kind) {
    String fileId = ctx.pathParam("file_id");
    String jobId = ctx.queryParams().get("job_id");
    if (!isUuid(fileId) || (jobId != null && !isUuid(jobId))) {
      fileNotFound(ctx, fileId);
      return;
    }
    jobs.file(fileId, jobId).onFailure(e -> databaseError(ctx, e)).onSuccess(info -> {
      if (info == null || !CurrentUser.mayAccess(ctx, info.userId())) {
        fileNotFound(ctx, fileId);
        return;
      }
      Path path;
      String type;
      String cache;
      if (kind.equals("original")) {
        path = layout.stored(info.storagePath());
        type = switch (info.format()) {
          case "PNG" -> "image/png";
          case "TIFF" -> "image/tiff";
          default -> "image/jpeg";
        };
        cache = "private, max-age=31536000, immutable"; // an upload never changes
      } else {
        if (info.latestJobId() == null) {
          Responses.error(ctx, ApiError.of(ErrorCode.FILE_NOT_FOUND, "No " + kind + " image for file " + fileId
              + (jobId == null ? "" : " in job " + jobId) + "; run a job with visualization on"));
          return;
        }
        path = kind.equals("annotated") ? layout.annotated(info.latestJobId(), fileId)
            : layout.thumbnail(info.latestJobId(), fileId);
        type = "image/jpeg";
        cache = "private, max-age=60"; // a re-run of the job replaces it
      }
      vertx.fileSystem().props(path.toString()).onFailure(e -> fileNotFound(ctx, fileId)).onSuccess(props -> {
        String etag = "\"" + Long.toHexString(props.lastModifiedTime()) + "-" + Long.toHexString(props.size()) + "\"";
        ctx.response().putHeader("ETag", etag).putHeader("Cache-Control", cache);
        if (etag.equals(ctx.request().getHeader("If-None-Match"))) {
          ctx.response().setStatusCode(304).end();
          return;
        }
        ctx.response().putHeader("Content-Type", type).sendFile(path.toString());
      });
    });
  }
}
