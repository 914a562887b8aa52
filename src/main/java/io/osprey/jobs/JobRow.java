package io.osprey.jobs;

import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

/** One row of {@code jobs}, and the spec's status document built from it. */
public record JobRow(String jobId, String userId, String uploadId, List<String> fileIds, String status,
                     JsonObject config, int totalImages, int processedImages, String currentStage, int attempts,
                     boolean enqueued, boolean cancelRequested, JsonObject summary, JsonObject error,
                     OffsetDateTime createdAt, OffsetDateTime startedAt, OffsetDateTime updatedAt,
                     OffsetDateTime completedAt, OffsetDateTime failedAt, OffsetDateTime cancelledAt) {

  public static final String QUEUED = "queued";
  public static final String PROCESSING = "processing";
  public static final String COMPLETED = "completed";
  public static final String FAILED = "failed";
  public static final String CANCELLED = "cancelled";

  static final String COLUMNS = "job_id, user_id, upload_id, file_ids, status, config, total_images,"
      + " processed_images, current_stage, attempts, enqueued, cancel_requested, summary, error, created_at,"
      + " started_at, updated_at, completed_at, failed_at, cancelled_at";

  static JobRow from(Row row) {
    UUID[] files = row.getArrayOfUUIDs("file_ids");
    return new JobRow(row.getUUID("job_id").toString(), row.getString("user_id"), row.getUUID("upload_id").toString(),
        Arrays.stream(files).map(UUID::toString).toList(), row.getString("status"),
        (JsonObject) row.getJson("config"), row.getInteger("total_images"), row.getInteger("processed_images"),
        row.getString("current_stage"), row.getInteger("attempts"), row.getBoolean("enqueued"),
        row.getBoolean("cancel_requested"), (JsonObject) row.getJson("summary"), (JsonObject) row.getJson("error"),
        row.getOffsetDateTime("created_at"), row.getOffsetDateTime("started_at"),
        row.getOffsetDateTime("updated_at"), row.getOffsetDateTime("completed_at"),
        row.getOffsetDateTime("failed_at"), row.getOffsetDateTime("cancelled_at"));
  }

  public boolean terminal() {
    return status.equals(COMPLETED) || status.equals(FAILED) || status.equals(CANCELLED);
  }

  /** The spec's "Status Response Formats": one shape per status. */
  public JsonObject statusJson() {
    int percentage = totalImages == 0 ? 0 : (int) Math.floor(100.0 * processedImages / totalImages);
    JsonObject progress = new JsonObject()
        .put("total_images", totalImages)
        .put("processed_images", processedImages)
        .put("percentage", status.equals(COMPLETED) ? 100 : percentage);
    JsonObject body = new JsonObject()
        .put("job_id", jobId)
        .put("status", status)
        .put("created_at", time(createdAt));
    switch (status) {
      case PROCESSING -> {
        body.put("started_at", time(startedAt)).put("updated_at", time(updatedAt));
        if (currentStage != null) {
          progress.put("current_stage", currentStage);
        }
        if (startedAt != null && processedImages > 0 && updatedAt != null) {
          Duration perImage = Duration.between(startedAt, updatedAt).dividedBy(processedImages);
          progress.put("estimated_completion",
              time(updatedAt.plus(perImage.multipliedBy(totalImages - processedImages))));
        }
        body.put("progress", progress);
      }
      case COMPLETED -> body.put("started_at", time(startedAt))
          .put("completed_at", time(completedAt))
          .put("progress", progress)
          .put("summary", summary)
          .put("results_url", "/api/v1/jobs/" + jobId + "/results")
          .put("visualization_url", "/api/v1/jobs/" + jobId + "/visualization");
      case FAILED -> {
        if (startedAt != null) {
          body.put("started_at", time(startedAt));
        }
        body.put("failed_at", time(failedAt)).put("progress", progress).put("error", error);
      }
      case CANCELLED -> {
        if (startedAt != null) {
          body.put("started_at", time(startedAt));
        }
        body.put("cancelled_at", time(cancelledAt)).put("progress", progress);
      }
      default -> body.put("progress", progress);
    }
    return body;
  }

  /** The row in job listings. */
  public JsonObject listJson() {
    JsonObject status = statusJson();
    return status.put("upload_id", uploadId).put("status_url", "/api/v1/jobs/" + jobId + "/status");
  }

  static String time(OffsetDateTime t) {
    return t == null ? null : t.toInstant().toString();
  }
}
