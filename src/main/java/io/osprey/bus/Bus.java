package io.osprey.bus;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageCodec;
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
   * Run one job image through the pipeline (decode, detect, rules, result files) on one of the process's pipeline
   * worker verticles. Each of the {@code jobs.worker_instances} instances consumes its own address,
   * {@link #pipelineWorker(int)}, so the runner gives an image to a worker that is free rather than queueing it
   * behind a busy one. Local only: request {@link ProcessImage}, reply {@link ImageProcessed} or
   * {@link ImageFailed}, passed by reference ({@link #registerPipelineCodecs}); send with {@link #local()}.
   */
  public static final String PIPELINE_IMAGE = "osprey.pipeline.image";

  /** The address of pipeline worker {@code instance} (0 to jobs.worker_instances - 1). */
  public static String pipelineWorker(int instance) {
    return PIPELINE_IMAGE + "." + instance;
  }

  /**
   * One image of a job: ids, the stored file's absolute path, its uploaded name, and the job's stored config (as
   * validated at predict time; read-only, passed by reference).
   */
  public record ProcessImage(String jobId, String fileId, String imagePath, String fileName, JsonObject config) {
  }

  /**
   * Registers the by-reference codecs of the pipeline records, once per Vert.x instance, by whoever deploys the
   * pipeline workers (kept apart from {@link #registerLocalCodecs}, which the events hub registers and removes with
   * its own deployment).
   */
  public static void registerPipelineCodecs(EventBus bus) {
    bus.registerDefaultCodec(ProcessImage.class, new LocalCodec<>(ProcessImage.class));
    bus.registerDefaultCodec(ImageProcessed.class, new LocalCodec<>(ImageProcessed.class));
    bus.registerDefaultCodec(ImageFailed.class, new LocalCodec<>(ImageFailed.class));
  }

  /** A reply on {@link #PIPELINE_IMAGE}. */
  public sealed interface ImageReply permits ImageProcessed, ImageFailed {
  }

  /**
   * The image's results are stored. {@code device}: where inference ran ("cuda" or "cpu"); {@code boxes}: the kept
   * boxes as an annotation stores them, only when the job makes annotations.
   */
  public record ImageProcessed(int detections, Double meanConfidence, boolean annotated, int width, int height,
                               String device, List<Box> boxes) implements ImageReply {
  }

  /** Class, centre and size as fractions of the image, confidence (4 places). */
  public record Box(int classId, String className, double centerX, double centerY, double width, double height,
                    double confidence) {
  }

  /**
   * The image failed. {@code code}: the job error code when retrying cannot help or the cause is known
   * (FILE_NOT_FOUND, CORRUPTED_FILE, INVALID_DIMENSIONS, INVALID_CONFIG, RULES_ERROR, MODEL_LOAD_ERROR,
   * INFERENCE_ERROR); null for anything else (storage, a closing model), which may pass on a retry.
   */
  public record ImageFailed(String code, String message) implements ImageReply {
  }

  /**
   * Live annotation events, published (local delivery, {@link #local()}) once their change has committed: one message
   * per committed change, its events in order. Body: a JsonArray of AnnotationEventDto JSON
   * {@code {annotationId, operation, status, mediaId, flightId, waypointId, detections, time}} built by
   * {@code io.osprey.annotations.AnnotationEvents}; {@code detections} is present on Created and Edited only. The
   * events module's log writer appends each message to the shared Redis event log as one batch.
   */
  public static final String ANNOTATION_EVENTS = "osprey.annotations.events";

  /**
   * Annotation events as the event hub reads them back from the shared log (produced by any instance), published
   * locally to this instance's event streams. Each HTTP instance consumes them once, on its own context, and hands
   * every entry to the streams of its connections (a consumer per connection would cost a message, a task and its
   * metrics per subscriber and event). Body {@link LoggedEvent}, passed by reference ({@link #registerLocalCodecs}).
   */
  public static final String EVENTS_ANNOTATIONS = "osprey.events.annotations";

  /**
   * Job status changes (from any instance, through Redis pub/sub), published locally by the event hub to this
   * instance's job event streams. Body {@link JobStatusChanged}, passed by reference. One address for every job,
   * not one per job: addresses are metric labels, and a label per job id would grow without bound.
   */
  public static final String EVENTS_JOB_STATUS = "osprey.events.jobs.status";

  /**
   * Published locally (no body) when the hub's job-status subscription is back after Redis was away: changes
   * published meanwhile were missed (pub/sub keeps nothing), so each job stream re-reads its job's status.
   */
  public static final String EVENTS_JOB_RESYNC = "osprey.events.jobs.resync";

  /**
   * One entry of the shared annotation event log: its id (the SSE event id, "ms-seq", also held as the two numbers
   * {@code ms} and {@code seq} so that streams compare positions without parsing text), the event (or control) JSON,
   * and its SSE frame, encoded to bytes once for every subscriber (each connection writes the same buffer).
   * {@code control}: a reset entry every subscriber gets whatever its filter. Shared between contexts: nobody modifies
   * {@code event} or {@code frame}.
   */
  public record LoggedEvent(String id, long ms, long seq, JsonObject event, Buffer frame, boolean control) {
    /** Negative, zero or positive as this entry comes before, at or after the position {@code ms}-{@code seq}. */
    public int compareTo(long otherMs, long otherSeq) {
      int c = Long.compare(ms, otherMs);
      return c != 0 ? c : Long.compare(seq, otherSeq);
    }
  }

  /** A job's new status JSON (the job status DTO, with {@code job_id}). Shared between contexts: read only. */
  public record JobStatusChanged(String jobId, JsonObject status) {
  }

  /** Delivery options of the events addresses: this process only. */
  public static DeliveryOptions local() {
    return new DeliveryOptions().setLocalOnly(true);
  }

  /**
   * Lets the local-only records above travel on {@code bus} by reference (no copy per subscriber: thousands of
   * subscribers share one encoded frame). Once per Vert.x instance; {@link #unregisterLocalCodecs} undoes it.
   */
  public static void registerLocalCodecs(EventBus bus) {
    bus.registerDefaultCodec(LoggedEvent.class, new LocalCodec<>(LoggedEvent.class));
    bus.registerDefaultCodec(JobStatusChanged.class, new LocalCodec<>(JobStatusChanged.class));
  }

  public static void unregisterLocalCodecs(EventBus bus) {
    bus.unregisterDefaultCodec(LoggedEvent.class);
    bus.unregisterDefaultCodec(JobStatusChanged.class);
  }

  /** Hands an immutable value to local consumers as is; it never crosses the wire. */
  private record LocalCodec<T>(Class<T> type) implements MessageCodec<T, T> {
    @Override
    public void encodeToWire(Buffer buffer, T t) {
      throw new UnsupportedOperationException(type.getSimpleName() + " is local only");
    }

    @Override
    public T decodeFromWire(int pos, Buffer buffer) {
      throw new UnsupportedOperationException(type.getSimpleName() + " is local only");
    }

    @Override
    public T transform(T t) {
      return t;
    }

    @Override
    public String name() {
      return "osprey.local." + type.getSimpleName();
    }

    @Override
    public byte systemCodecID() {
      return -1;
    }
  }

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
