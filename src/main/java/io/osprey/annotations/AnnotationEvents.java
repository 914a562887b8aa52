package io.osprey.annotations;

import io.osprey.bus.Bus;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.List;

/** Builds AnnotationEventDto bodies and publishes them on the event bus once their change has committed. */
public final class AnnotationEvents {
  private final Vertx vertx;
  private final io.osprey.events.EventLog log;

  /** {@code log}: the shared log event streams of every instance read (null: local event bus only). */
  public AnnotationEvents(Vertx vertx, io.osprey.events.EventLog log) {
    this.vertx = vertx;
    this.log = log;
  }

  public static JsonObject event(String annotationId, String operation, AnnotationStatus status, String mediaId,
                                 String flightId, String waypointId, List<Detection> detections) {
    return new JsonObject().put("annotationId", annotationId).put("operation", operation)
        .put("status", status.wire()).put("mediaId", mediaId).put("flightId", flightId)
        .put("waypointId", waypointId)
        .put("detections", detections == null ? null : Detection.toJson(detections))
        .put("time", Instant.now().toString());
  }

  public void publish(List<JsonObject> events) {
    events.forEach(e -> vertx.eventBus().publish(Bus.ANNOTATION_EVENTS, e));
    if (log != null && !events.isEmpty()) {
      log.append(events);
    }
  }
}
