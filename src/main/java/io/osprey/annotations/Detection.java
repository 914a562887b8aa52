package io.osprey.annotations;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

/** One labelled box of an annotation: class and a box normalised to 0..1 (centre, size), as the YOLO label file. */
public record Detection(int classNum, String label, double centerX, double centerY, double width, double height,
                        double confidence) {

  public JsonObject toJson() {
    return new JsonObject().put("classNum", classNum).put("label", label).put("centerX", centerX)
        .put("centerY", centerY).put("width", width).put("height", height).put("confidence", confidence);
  }

  /** {@code class cx cy w h}, the YOLO label line. */
  public String yoloLine() {
    return String.format(Locale.ROOT, "%d %.6f %.6f %.6f %.6f", classNum, centerX, centerY, width, height);
  }

  public static JsonArray toJson(List<Detection> detections) {
    JsonArray a = new JsonArray();
    detections.forEach(d -> a.add(d.toJson()));
    return a;
  }

  /**
   * Reads {@code detections} of a request, collecting one message per bad field into {@code errors}. A missing
   * label is taken from the class catalog ({@code labels}), else it is an error; a missing confidence is 1 (a
   * person drew the box).
   */
  public static List<Detection> parse(Object raw, IntFunction<String> labels, List<String> errors) {
    List<Detection> out = new ArrayList<>();
    if (raw == null) {
      return out;
    }
    if (!(raw instanceof JsonArray array)) {
      errors.add("detections: must be an array");
      return out;
    }
    if (array.size() > 10_000) {
      errors.add("detections: at most 10000 per annotation");
      return out;
    }
    for (int i = 0; i < array.size(); i++) {
      String at = "detections[" + i + "]";
      if (!(array.getValue(i) instanceof JsonObject raw0)) {
        errors.add(at + ": must be an object");
        continue;
      }
      JsonObject d = Wire.ci(raw0);
      int before = errors.size();
      Integer cls = integer(d.getValue("classnum"), at + ".classNum", errors);
      double cx = unit(d.getValue("centerx"), at + ".centerX", errors);
      double cy = unit(d.getValue("centery"), at + ".centerY", errors);
      double w = unit(d.getValue("width"), at + ".width", errors);
      double h = unit(d.getValue("height"), at + ".height", errors);
      Object conf = d.getValue("confidence");
      double confidence = conf == null ? 1.0 : unit(conf, at + ".confidence", errors);
      Object rawLabel = d.getValue("label");
      String label = rawLabel instanceof String s && !s.isBlank() ? s.strip() : null;
      if (rawLabel != null && !(rawLabel instanceof String)) {
        errors.add(at + ".label: must be a string");
      }
      if (label == null && cls != null && cls >= 0) {
        label = labels.apply(cls);
      }
      if (label == null && errors.size() == before) {
        errors.add(at + ".label: required (class " + cls + " is not in the class catalog)");
      }
      if (errors.size() == before && (w == 0 || h == 0)) {
        errors.add(at + ": width and height must be greater than 0");
      }
      if (errors.size() == before) {
        out.add(new Detection(cls, label, cx, cy, w, h, confidence));
      }
    }
    return out;
  }

  private static Integer integer(Object v, String field, List<String> errors) {
    if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && n.longValue() >= 0
        && n.longValue() <= Integer.MAX_VALUE) {
      return n.intValue();
    }
    errors.add(field + ": " + (v == null ? "required" : "must be a whole number >= 0"));
    return null;
  }

  private static double unit(Object v, String field, List<String> errors) {
    if (v instanceof Number n && Double.isFinite(n.doubleValue()) && n.doubleValue() >= 0 && n.doubleValue() <= 1) {
      return n.doubleValue();
    }
    errors.add(field + ": " + (v == null ? "required" : "must be a number from 0 to 1"));
    return 0;
  }
}
