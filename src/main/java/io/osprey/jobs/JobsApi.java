package io.osprey.jobs;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.inference.ModelRegistry;
import io.osprey.rules.RuleSets;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The detection job API of the spec: predict, status, results, visualization, file images, cancel, job list and
 * the monitoring dashboard. Handlers only read and write through asynchronous clients; the few blocking steps
 * (reading result files, building a zip) run on Vert.x's worker pool.
 */
public final class JobsApi {
  private static final Logger LOG = LoggerFactory.getLogger(JobsApi.class);
  private static final Set<String> STATUSES = Set.of(JobRow.QUEUED, JobRow.PROCESSING, JobRow.COMPLETED,
      JobRow.FAILED, JobRow.CANCELLED);

  private final Vertx vertx;
  private final JobRepository jobs;
  private final JobQueue queue;
  private final StatusCache cache;
  private final RateLimiter limiter;
  private final ModelRegistry models;
  private final RuleSets ruleSets;
  private final StorageLayout layout;
  private final JobMetrics metrics;
  private final Workers workers;

  /** Counts worker processes alive, for the dashboard. */
  public interface Workers {
    Future<Integer> alive();
  }

  public JobsApi(Vertx vertx, JobRepository jobs, JobQueue queue, StatusCache cache, RateLimiter limiter,
                 ModelRegistry models, RuleSets ruleSets, StorageLayout layout, JobMetrics metrics,
                 Workers workers) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.queue = queue;
    this.cache = cache;
    this.limiter = limiter;
    this.models = models;
    this.ruleSets = ruleSets;
    this.layout = layout;
    this.metrics = metrics;
    this.workers = workers;
  }

  public void mount(Router router) {
    router.post("/api/v1/inference/predict").handler(BodyHandler.create(false).setBodyLimit(1 << 20)).handler(this::predict);
    router.get("/api/v1/jobs").handler(this::list);
    router.get("/api/v1/jobs/:job_id/status").handler(this::status);
    router.get("/api/v1/jobs/:job_id/results").handler(this::results);
    router.get("/api/v1/jobs/:job_id/visualization").handler(this::visualization);
    router.post("/api/v1/jobs/:job_id/cancel").handler(this::cancel);
    router.get("/api/v1/files/:file_id/original").handler(ctx -> file(ctx, "original"));
    router.get("/api/v1/files/:file_id/annotated").handler(ctx -> file(ctx, "annotated"));
    router.get("/api/v1/files/:file_id/thumbnail").handler(ctx -> file(ctx, "thumbnail"));
    router.get("/api/v1/monitoring/dashboard").handler(this::dashboard);
  }

  // ---------------------------------------------------------------- predict

  private void predict(RoutingContext ctx) {
    JsonObject body;
    try {
      body = ctx.body().asJsonObject();
    } catch (DecodeException | ClassCastException e) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "The body must be a JSON object"));
      return;
    }
    if (body == null) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST,
          "Send a JSON object with upload_id, file_ids and config"));
      return;
    }
    // The config is stored as JSONB, which refuses a NUL in any string.
    String problem = io.osprey.http.Text.firstProblem(body, "");
    if (problem != null) {
      Responses.error(ctx, io.osprey.http.Text.invalid(problem));
      return;
    }
    String user = CurrentUser.of(ctx);
    var remote = ctx.request().remoteAddress();
    String budget = limiter.budget(user, CurrentUser.isAnonymous(ctx), remote == null ? null : remote.hostAddress(),
        ctx.request().headers().getAll("X-Forwarded-For"));
    limiter.acquire(budget).onComplete(wait -> {
      int retryAfter = wait.succeeded() ? wait.result() : 0;
      if (retryAfter > 0) {
        ctx.response().putHeader("Retry-After", Integer.toString(retryAfter));
        Responses.error(ctx, ApiError.of(ErrorCode.RATE_LIMIT_EXCEEDED,
                "Too many predict requests; retry in " + retryAfter + " s")
            .withDetails(new JsonObject().put("retry_after_seconds", retryAfter)));
        return;
      }
      validate(ctx, body, user);
    });
  }

  private void validate(RoutingContext ctx, JsonObject body, String user) {
    List<JobConfig.FieldError> errors = new ArrayList<>();
    Object configValue = body.getValue("config");
    JsonObject configJson = configValue instanceof JsonObject o ? o : null;
    if (configValue != null && configJson == null) {
      errors.add(new JobConfig.FieldError("config", "must be an object"));
    }
    JobConfig config = JobConfig.parse(configJson, errors);
    String model = config.model() == null ? models.defaultModel() : config.model();
    // Whether the model and rule set exist is a look at the disk: off the event loop.
    vertx.executeBlocking(() -> resourceErrors(config, model), false).onComplete(found -> {
      if (found.failed()) {
        LOG.error("rid={} checking models and rule sets failed: {}", RequestIds.of(ctx), found.cause().toString());
        Responses.error(ctx, ApiError.of(ErrorCode.STORAGE_ERROR));
        return;
      }
      errors.addAll(found.result());
      validateUpload(ctx, body, user, config, model, errors);
    });
  }

  private List<JobConfig.FieldError> resourceErrors(JobConfig config, String model) {
    List<JobConfig.FieldError> errors = new ArrayList<>();
    if (config.symbolic().enabled() && config.symbolic().ruleSet() != null
        && !ruleSets.exists(config.symbolic().ruleSet())) {
      errors.add(new JobConfig.FieldError("config.symbolic.rule_set", "unknown rule set '"
          + config.symbolic().ruleSet() + "'; available: " + ruleSets.available()));
    }
    if (!models.exists(model)) {
      errors.add(new JobConfig.FieldError(config.model() == null ? "config.model (default)" : "config.model",
          "unknown model '" + model + "'; available: " + models.available()));
    }
    return errors;
  }

  private void validateUpload(RoutingContext ctx, JsonObject body, String user, JobConfig config, String model,
                              List<JobConfig.FieldError> errors) {
    String uploadId = body.getValue("upload_id") instanceof String s ? s.strip() : null;
    if (uploadId == null || !isUuid(uploadId)) {
      errors.add(new JobConfig.FieldError("upload_id", "must be the upload_id returned by the upload"));
      reject(ctx, errors);
      return;
    }
    List<String> requested = new ArrayList<>();
    Object fileIds = body.getValue("file_ids");
    if (fileIds != null && !(fileIds instanceof JsonArray)) {
      errors.add(new JobConfig.FieldError("file_ids", "must be an array of file ids"));
    } else if (fileIds instanceof JsonArray array) {
      for (int i = 0; i < array.size(); i++) {
        Object id = array.getValue(i);
        if (id instanceof String s && isUuid(s.strip())) {
          requested.add(s.strip());
        } else {
          errors.add(new JobConfig.FieldError("file_ids[" + i + "]", "is not a file id"));
        }
      }
    }
    jobs.uploadOwner(uploadId).compose(owner -> {
      if (!CurrentUser.mayAccess(ctx, owner)) {
        errors.add(new JobConfig.FieldError("upload_id", "no upload " + uploadId));
        return Future.succeededFuture(List.<JobRepository.UploadedFile>of());
      }
      return jobs.uploadFiles(uploadId);
    }).onFailure(e -> databaseError(ctx, e)).onSuccess(files -> {
      Map<String, JobRepository.UploadedFile> byId = new HashMap<>();
      files.forEach(f -> byId.put(f.fileId(), f));
      List<String> chosen = new ArrayList<>();
      if (requested.isEmpty() && !files.isEmpty()) {
        files.forEach(f -> chosen.add(f.fileId()));
      }
      Set<String> seen = new HashSet<>();
      for (int i = 0; i < requested.size(); i++) {
        String id = requested.get(i);
        if (!byId.isEmpty() && !byId.containsKey(id)) {
          errors.add(new JobConfig.FieldError("file_ids[" + i + "]", "file " + id + " is not part of upload "
              + uploadId));
        } else if (seen.add(id)) {
          chosen.add(id);
        }
      }
      if (!errors.isEmpty()) {
        reject(ctx, errors);
        return;
      }
      JsonObject stored = config.toJson().put("model", model);
      create(ctx, user, uploadId, chosen, stored);
    });
  }

  private void create(RoutingContext ctx, String user, String uploadId, List<String> fileIds, JsonObject config) {
    String jobId = UUID.randomUUID().toString();
    jobs.insert(jobId, user, uploadId, fileIds, config)
        .onFailure(e -> databaseError(ctx, e))
        .onSuccess(job -> {
          metrics.jobCounted(JobRow.QUEUED);
          cache.put(job);
          // The job is safe in PostgreSQL; if the broker is down it is handed over when it is back.
          queue.publish(jobId)
              .compose(x -> jobs.markEnqueued(jobId))
              .onFailure(e -> LOG.warn("rid={} job {} stays queued until the broker is reachable: {}",
                  RequestIds.of(ctx), jobId, e.getMessage()));
          ctx.response().putHeader("Location", "/api/v1/jobs/" + jobId + "/status");
          Responses.json(ctx, 202, new JsonObject()
              .put("status", "accepted")
              .put("data", new JsonObject()
                  .put("job_id", jobId)
                  .put("status", JobRow.QUEUED)
                  .put("created_at", JobRow.time(job.createdAt()))
                  .put("status_url", "/api/v1/jobs/" + jobId + "/status")
                  .put("total_images", fileIds.size())));
        });
  }

  private static void reject(RoutingContext ctx, List<JobConfig.FieldError> errors) {
    JsonArray list = new JsonArray();
    errors.forEach(e -> list.add(e.toJson()));
    Responses.error(ctx, ApiError.of(ErrorCode.INVALID_CONFIG, errors.size() == 1
            ? "Invalid " + errors.get(0).field() + ": " + errors.get(0).message()
            : errors.size() + " invalid fields: " + String.join(", ", errors.stream().map(JobConfig.FieldError::field)
                .toList()))
        .withErrors(list));
  }

  // ---------------------------------------------------------------- status and listing

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
    String status = ctx.queryParams().get("status");
    if (status != null && !STATUSES.contains(status)) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "status must be one of " + STATUSES));
      return;
    }
    int page = intParam(ctx, "page", 1);
    int size = intParam(ctx, "page_size", 20);
    if (page < 1 || size < 1 || size > 100) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "page must be >= 1 and page_size 1..100"));
      return;
    }
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

  // ---------------------------------------------------------------- results

  private void withCompletedJob(RoutingContext ctx, java.util.function.Consumer<JobRow> then) {
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

  private void results(RoutingContext ctx) {
    String format = ctx.queryParams().get("format") == null ? "json" : ctx.queryParams().get("format");
    if (!Set.of("json", "yolo", "coco").contains(format)) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "format must be json, yolo or coco"));
      return;
    }
    withCompletedJob(ctx, job -> jobs.results(job.jobId())
        .compose(rows -> vertx.executeBlocking(() -> switch (format) {
          case "yolo" -> Buffer.buffer(yoloZip(job, rows));
          case "coco" -> coco(job, rows).toBuffer();
          default -> json(job, rows).toBuffer();
        }, false))
        .onFailure(e -> {
          LOG.error("rid={} reading results of job {} failed: {}", RequestIds.of(ctx), job.jobId(), e.toString());
          Responses.error(ctx, io.osprey.http.DatabaseErrors.map(e, ApiError.of(ErrorCode.STORAGE_ERROR)));
        })
        .onSuccess(buffer -> {
          if (format.equals("yolo")) {
            ctx.response().putHeader("Content-Type", "application/zip")
                .putHeader("Content-Disposition", "attachment; filename=\"" + job.jobId() + "-yolo.zip\"")
                .end(buffer);
          } else {
            ctx.response().putHeader("Content-Type", "application/json; charset=utf-8").end(buffer);
          }
        }));
  }

  private JsonArray detections(String jobId, String fileId) throws java.io.IOException {
    return new JsonArray(Files.readString(layout.detections(jobId, fileId)));
  }

  private JsonObject json(JobRow job, List<JobRepository.ResultRow> rows) throws java.io.IOException {
    JsonArray results = new JsonArray();
    for (JobRepository.ResultRow r : rows) {
      JsonObject entry = new JsonObject()
          .put("file_id", r.fileId())
          .put("filename", r.filename())
          .put("width", r.width())
          .put("height", r.height())
          .put("detection_count", r.detectionCount())
          .put("detections", detections(job.jobId(), r.fileId()));
      Path suppressed = layout.suppressed(job.jobId(), r.fileId());
      if (Files.exists(suppressed)) {
        entry.put("suppressed", new JsonArray(Files.readString(suppressed)));
      }
      results.add(entry);
    }
    return new JsonObject().put("job_id", job.jobId()).put("format", "json").put("status", job.status())
        .put("summary", job.summary()).put("results", results);
  }

  private JsonObject coco(JobRow job, List<JobRepository.ResultRow> rows) throws java.io.IOException {
    JsonArray images = new JsonArray();
    JsonArray annotations = new JsonArray();
    Map<Integer, String> categories = new java.util.TreeMap<>();
    int annotationId = 1;
    for (int i = 0; i < rows.size(); i++) {
      JobRepository.ResultRow r = rows.get(i);
      images.add(new JsonObject().put("id", i + 1).put("file_name", r.filename()).put("width", r.width())
          .put("height", r.height()).put("osprey_file_id", r.fileId()));
      for (Object o : detections(job.jobId(), r.fileId())) {
        JsonObject d = (JsonObject) o;
        JsonObject b = d.getJsonObject("bbox");
        int category = d.getInteger("class_id") + 1;
        categories.put(category, d.getString("class_name"));
        annotations.add(new JsonObject().put("id", annotationId++).put("image_id", i + 1)
            .put("category_id", category)
            .put("bbox", new JsonArray().add(b.getDouble("x1")).add(b.getDouble("y1")).add(b.getDouble("width"))
                .add(b.getDouble("height")))
            .put("area", Math.round(b.getDouble("width") * b.getDouble("height") * 10) / 10.0)
            .put("score", d.getDouble("confidence")).put("iscrowd", 0));
      }
    }
    JsonArray cats = new JsonArray();
    categories.forEach((id, name) -> cats.add(new JsonObject().put("id", id).put("name", name)
        .put("supercategory", "object")));
    return new JsonObject()
        .put("info", new JsonObject().put("description", "Osprey detection job " + job.jobId())
            .put("date_created", JobRow.time(job.completedAt())))
        .put("images", images).put("annotations", annotations).put("categories", cats);
  }

  private byte[] yoloZip(JobRow job, List<JobRepository.ResultRow> rows) throws java.io.IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Map<String, Integer> stems = new HashMap<>();
    rows.forEach(r -> stems.merge(stem(r.filename()), 1, Integer::sum));
    Map<Integer, String> names = new java.util.TreeMap<>();
    try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
      for (JobRepository.ResultRow r : rows) {
        String stem = stem(r.filename());
        String name = stems.get(stem) > 1 ? stem + "_" + r.fileId() : stem;
        zip.putNextEntry(new ZipEntry("labels/" + name + ".txt"));
        zip.write(Files.readAllBytes(layout.predictions(job.jobId(), r.fileId())));
        zip.closeEntry();
        for (Object o : detections(job.jobId(), r.fileId())) {
          JsonObject d = (JsonObject) o;
          names.put(d.getInteger("class_id"), d.getString("class_name"));
        }
      }
      StringBuilder classes = new StringBuilder();
      names.forEach((id, n) -> classes.append(id).append(' ').append(n).append('\n'));
      zip.putNextEntry(new ZipEntry("classes.txt"));
      zip.write(classes.toString().getBytes(StandardCharsets.UTF_8));
      zip.closeEntry();
    }
    return bytes.toByteArray();
  }

  private static String stem(String filename) {
    int dot = filename.lastIndexOf('.');
    return (dot > 0 ? filename.substring(0, dot) : filename).replaceAll("[^A-Za-z0-9._-]", "_");
  }

  private void visualization(RoutingContext ctx) {
    withCompletedJob(ctx, job -> jobs.results(job.jobId()).onFailure(e -> databaseError(ctx, e)).onSuccess(rows -> {
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

  // ---------------------------------------------------------------- images

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

  // ---------------------------------------------------------------- monitoring

  private void dashboard(RoutingContext ctx) {
    Future<JsonObject> stats = jobs.dashboardStats();
    Future<Long> length = queue.length().otherwise(-1L);
    Future<Integer> alive = workers.alive().otherwise(-1);
    Future.join(stats, length, alive).onComplete(x -> {
      if (stats.failed()) {
        databaseError(ctx, stats.cause());
        return;
      }
      JsonObject s = stats.result();
      long completed = s.getLong("completed_last_hour");
      Responses.json(ctx, 200, new JsonObject()
          .put("queue_length", length.result() >= 0 ? length.result() : null)
          .put("active_workers", alive.result() >= 0 ? alive.result() : null)
          .put("active_jobs", s.getLong("processing_jobs"))
          .put("queued_jobs", s.getLong("queued_jobs"))
          .put("job_rate", new JsonObject().put("completed_per_minute", Math.round(completed / 60.0 * 100) / 100.0)
              .put("completed_last_hour", completed).put("failed_last_hour", s.getLong("failed_last_hour")))
          .put("avg_duration", s.getDouble("avg_duration_seconds"))
          .put("avg_duration_seconds", s.getDouble("avg_duration_seconds"))
          .put("generated_at", java.time.Instant.now().toString()));
    });
  }

  // ---------------------------------------------------------------- helpers

  private static void jobNotFound(RoutingContext ctx, String jobId) {
    Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_FOUND, "Job not found: " + jobId));
  }

  private static void fileNotFound(RoutingContext ctx, String fileId) {
    Responses.error(ctx, ApiError.of(ErrorCode.FILE_NOT_FOUND, "File not found: " + fileId));
  }

  private static void databaseError(RoutingContext ctx, Throwable e) {
    if (io.osprey.storage.DatabaseFailures.unavailable(e)) {
      LOG.warn("rid={} database unavailable: {}", RequestIds.of(ctx), e.toString());
    } else {
      LOG.error("rid={} database call failed: {}", RequestIds.of(ctx), e.toString());
    }
    Responses.error(ctx, io.osprey.http.DatabaseErrors.map(e,
        ApiError.of(ErrorCode.SERVICE_UNAVAILABLE, "Database unavailable; retry shortly")));
  }

  private static int intParam(RoutingContext ctx, String name, int fallback) {
    String v = ctx.queryParams().get(name);
    try {
      return v == null ? fallback : Integer.parseInt(v);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  static boolean isUuid(String s) {
    try {
      return s != null && UUID.fromString(s).toString().equalsIgnoreCase(s);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
