package io.osprey.jobs;

import static io.osprey.jobs.JobRoutes.databaseError;
import static io.osprey.storage.Ids.isUuid;

import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestContract;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.inference.ModelRegistry;
import io.osprey.rules.RuleSets;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /api/v1/inference/predict}: rate limit, validate the config, the model, the rule set and the upload,
 * then store the job and hand it to the queue. The look at the disk for models and rule sets runs on Vert.x's
 * worker pool.
 */
final class PredictApi {
  private static final Logger LOG = LoggerFactory.getLogger(PredictApi.class);

  private final Vertx vertx;
  private final JobRepository jobs;
  private final JobQueue queue;
  private final StatusCache cache;
  private final RateLimiter limiter;
  private final ModelRegistry models;
  private final RuleSets ruleSets;
  private final JobMetrics metrics;

  PredictApi(Vertx vertx, JobRepository jobs, JobQueue queue, StatusCache cache, RateLimiter limiter,
             ModelRegistry models, RuleSets ruleSets, JobMetrics metrics) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.queue = queue;
    this.cache = cache;
    this.limiter = limiter;
    this.models = models;
    this.ruleSets = ruleSets;
    this.metrics = metrics;
  }

  void mount(Router router) {
    router.post("/api/v1/inference/predict").handler(BodyHandler.create(false).setBodyLimit(1 << 20)).handler(this::predict);
  }

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
    // Types, ranges and unknown fields: the PredictRequest schema of openapi.yaml; the rest: JobConfig.
    List<JobConfig.FieldError> errors = JobConfig.FieldError.of(RequestContract.of(ctx).check("predict", body));
    JobConfig config = JobConfig.parse(body.getValue("config") instanceof JsonObject o ? o : null, errors);
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

  private static void reject(RoutingContext ctx, List<JobConfig.FieldError> all) {
    // The schema and the route may both flag a field; its first (the schema's) message is kept.
    Set<String> named = new HashSet<>();
    List<JobConfig.FieldError> errors = all.stream().filter(e -> named.add(e.field())).toList();
    JsonArray list = new JsonArray();
    errors.forEach(e -> list.add(e.toJson()));
    Responses.error(ctx, ApiError.of(ErrorCode.INVALID_CONFIG, errors.size() == 1
            ? "Invalid " + errors.get(0).field() + ": " + errors.get(0).message()
            : errors.size() + " invalid fields: " + String.join(", ", errors.stream().limit(10)
                .map(JobConfig.FieldError::field).toList()) + (errors.size() > 10 ? ", ..." : ""))
        .withErrors(list));
  }
}
