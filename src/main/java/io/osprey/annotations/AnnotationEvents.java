package io.osprey.annotations;

import io.osprey.bus.Bus;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.List;

/**
 * Builds AnnotationEventDto bodies and publishes them on the local event bus ({@link Bus#ANNOTATION_EVENTS}) once
 * their change has committed; the events module logs them to the shared event log every instance's streams read.
 */
public final class AnnotationEvents {
  private final Vertx vertx;

  public AnnotationEvents(Vertx vertx) {
    this.vertx = vertx;
  }

  public static JsonObject event(String annotationId, String operation, AnnotationStatus status, String mediaId,
                                 String flightId, String waypointId, List<Detection> detections) {
    return new JsonObject().put("annotationId", annotationId).put("operation", operation)
        .put("status", status.wire()).put("mediaId", mediaId).put("flightId", flightId)
        .put("waypointId", waypointId)
        .put("detections", detections == null ? null : Detection.toJson(detections))
        .put("time", Instant.now().toString());
  }

  /** One message per committed change, so the log appends its events together (a bulk change is one batch). */
  public void publish(List<JsonObject> events) {
    if (!events.isEmpty()) {
      vertx.eventBus().publish(Bus.ANNOTATION_EVENTS, new JsonArray(List.copyOf(events)), Bus.local());
    }
  }
}
