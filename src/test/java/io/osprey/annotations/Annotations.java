package io.osprey.annotations;

import io.osprey.testing.Http;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Base64;

/** Request builders for the annotation tests. */
final class Annotations {
  private Annotations() {
  }

  static JsonObject detection(int cls, String label, double cx, double cy) {
    return new JsonObject().put("classNum", cls).put("label", label).put("centerX", cx).put("centerY", cy)
        .put("width", 0.1).put("height", 0.08).put("confidence", 0.9);
  }

  static JsonObject request(byte[] image, String flightId, JsonObject... detections) {
    JsonArray d = new JsonArray();
    for (JsonObject o : detections) {
      d.add(o);
    }
    JsonObject body = new JsonObject().put("name", "frame.jpg").put("flightId", flightId).put("waypointId", "wp-1")
        .put("source", "AI").put("detections", d);
    if (image != null) {
      body.put("image", Base64.getEncoder().encodeToString(image));
    }
    return body;
  }

  static Http.Response create(String base, String token, JsonObject body) throws Exception {
    return Http.json("POST", base + "/annotations", token, body);
  }
}
