package io.osprey.bus;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * Every event-bus address and message shape in the service. Verticles only talk through these, so a reader can
 * see all inter-verticle traffic in one file.
 */
public final class Bus {
  private Bus() {
  }

  /** Inspect one received file (format, dimensions, structure). Request {@link InspectFile}, reply {@link Inspection}. */
  public static final String UPLOAD_INSPECT = "osprey.uploads.inspect";
  /** Move a validated upload's temp files to their final place. Request {@link StoreUpload}; empty reply or failure. */
  public static final String UPLOAD_STORE = "osprey.uploads.store";
  /** Remove files and folders of an upload that will not be kept. Request {@link DiscardFiles}; empty reply. */
  public static final String UPLOAD_DISCARD = "osprey.uploads.discard";

  /**
   * Run one detection job. Request {@link RunJob}; the reply (empty) means the job reached a state that lets its
   * queue message be acknowledged; a failure means it must be delivered again.
   */
  public static final String JOBS_RUN = "osprey.jobs.run";

  public record RunJob(String jobId, long deliveries) {
    public JsonObject toJson() {
      return new JsonObject().put("job_id", jobId).put("deliveries", deliveries);
    }

    public static RunJob fromJson(JsonObject json) {
      return new RunJob(json.getString("job_id"), json.getLong("deliveries", 1L));
    }
  }

  /**
   * Live annotation events, published (not sent) after each mutation commits. Body: the AnnotationEventDto JSON
   * {@code {annotationId, operation, status, mediaId, flightId, waypointId, detections, time}} built by
   * {@code io.osprey.annotations.AnnotationEvents}; {@code detections} is present on Created and Edited only.
   */
  public static final String ANNOTATION_EVENTS = "osprey.annotations.events";

  /** Failure codes carried by {@code ReplyException.failureCode()} on these addresses. */
  public static final int FAILURE_STORAGE = 507;
  /** On JOBS_RUN: a stopping worker gives the job back, untouched, for another worker to resume (nack, requeue). */
  public static final int FAILURE_HANDED_BACK = 503;

  public record InspectFile(String path, String fileName) {
    public JsonObject toJson() {
      return new JsonObject().put("path", path).put("file_name", fileName);
    }

    public static InspectFile fromJson(JsonObject json) {
      return new InspectFile(json.getString("path"), json.getString("file_name"));
    }
  }

  /** {@code format} is null when the file failed; then {@code errorCode} and {@code errorMessage} say why. */
  public record Inspection(String format, int width, int height, String errorCode, String errorMessage) {
    public JsonObject toJson() {
      return new JsonObject().put("format", format).put("width", width).put("height", height)
          .put("error_code", errorCode).put("error_message", errorMessage);
    }

    public static Inspection fromJson(JsonObject json) {
      return new Inspection(json.getString("format"), json.getInteger("width", 0), json.getInteger("height", 0),
          json.getString("error_code"), json.getString("error_message"));
    }
  }

  /** One move: a temp file to its final absolute path. */
  public record Move(String from, String to) {
  }

  public record StoreUpload(String directory, List<Move> moves) {
    public JsonObject toJson() {
      JsonArray array = new JsonArray();
      moves.forEach(m -> array.add(new JsonObject().put("from", m.from()).put("to", m.to())));
      return new JsonObject().put("directory", directory).put("moves", array);
    }

    public static StoreUpload fromJson(JsonObject json) {
      List<Move> moves = json.getJsonArray("moves").stream()
          .map(JsonObject.class::cast)
          .map(m -> new Move(m.getString("from"), m.getString("to")))
          .toList();
      return new StoreUpload(json.getString("directory"), moves);
    }
  }

  /** Paths to delete; folders are deleted with their contents. */
  public record DiscardFiles(List<String> paths) {
    public JsonObject toJson() {
      return new JsonObject().put("paths", new JsonArray(List.copyOf(paths)));
    }

    public static DiscardFiles fromJson(JsonObject json) {
      return new DiscardFiles(json.getJsonArray("paths").stream().map(String::valueOf).toList());
    }
  }
}
