package io.osprey.jobs;

import io.osprey.inference.DetectionParams;
import io.osprey.inference.MatchMetric;
import io.osprey.inference.MergeType;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * The {@code config} object of a predict request, checked field by field. Every problem is collected (field path
 * and reason) so the client sees all of them in one 400 INVALID_CONFIG. The {@code sahi} object takes SAHI's own
 * parameter names and defaults.
 *
 * @param model         model name (null = the configured default)
 * @param params        detection parameters for the engine
 * @param visualization write annotated images and thumbnails
 */
public record JobConfig(String model, DetectionParams params, boolean visualization, Symbolic symbolic,
                        Annotations annotations) {

  /**
   * {@code create_annotations}: each image's detections become an annotation (source AI) through the annotations
   * service's own create path; {@code flight_id} and {@code waypoint_id} are copied onto them.
   */
  public record Annotations(boolean create, String flightId, String waypointId) {
    public static final Annotations NONE = new Annotations(false, null, null);
  }


  /**
   * The rules stage: a rule set by name, its parameters, and image metadata (gsd, altitude, time of day, ...) for
   * every image, optionally overridden per file id.
   */
  public record Symbolic(boolean enabled, String ruleSet, JsonObject params, JsonObject metadata,
                         JsonObject imageMetadata) {
    public static final Symbolic OFF = new Symbolic(false, null, new JsonObject(), new JsonObject(), new JsonObject());

    public JsonObject toJson() {
      return new JsonObject().put("enabled", enabled).put("rule_set", ruleSet).put("params", params)
          .put("metadata", metadata).put("image_metadata", imageMetadata);
    }

    /** Metadata of one image: the job-wide values, then that file's own. */
    public java.util.Map<String, Object> metadataFor(String fileId) {
      JsonObject merged = metadata.copy();
      JsonObject own = imageMetadata.getJsonObject(fileId);
      if (own != null) {
        merged.mergeIn(own);
      }
      return merged.getMap();
    }
  }

  public record FieldError(String field, String message) {
    public JsonObject toJson() {
      return new JsonObject().put("field", field).put("code", "INVALID_CONFIG").put("message", message)
          .put("msg", message);
    }
  }

  /** Normalised form stored with the job, with every default filled in. */
  public JsonObject toJson() {
    JsonObject sahi = new JsonObject()
        .put("enabled", params.sliceWidth() == null || params.sliceWidth() != Integer.MAX_VALUE)
        .put("slice_height", params.sliceHeight() == null || params.sliceHeight() == Integer.MAX_VALUE ? null
            : params.sliceHeight())
        .put("slice_width", params.sliceWidth() == null || params.sliceWidth() == Integer.MAX_VALUE ? null
            : params.sliceWidth())
        .put("overlap_height_ratio", params.overlapHeightRatio())
        .put("overlap_width_ratio", params.overlapWidthRatio())
        .put("perform_standard_pred", params.performStandardPred())
        .put("postprocess_type", params.postprocessType().name())
        .put("postprocess_match_metric", params.matchMetric().name())
        .put("postprocess_match_threshold", params.matchThreshold())
        .put("postprocess_class_agnostic", params.classAgnostic());
    return new JsonObject()
        .put("model", model)
        .put("confidence", (double) params.confidence())
        .put("nms_iou", params.modelNmsIou())
        .put("min_box_area", params.minBoxArea())
        .put("classes", new JsonArray(params.includeClasses()))
        .put("exclude_classes", new JsonArray(params.excludeClasses()))
        .put("visualization", visualization)
        .put("sahi", sahi)
        .put("symbolic", symbolic.toJson())
        .put("create_annotations", annotations.create())
        .put("flight_id", annotations.flightId())
        .put("waypoint_id", annotations.waypointId());
  }

  /** Parses a request's config (null = all defaults); problems go into {@code errors}. */
  public static JobConfig parse(JsonObject config, List<FieldError> errors) {
    JsonObject c = config == null ? new JsonObject() : config;
    Reader r = new Reader(errors);
    String model = r.string(c, "config.model", "model");
    double confidence = r.number(c, "config.confidence", "confidence", 0.25, v -> v >= 0 && v <= 1, "between 0 and 1");
    double nmsIou = r.number(c, "config.nms_iou", "nms_iou", 0.45, v -> v > 0 && v <= 1, "in (0, 1]");
    double minArea = r.number(c, "config.min_box_area", "min_box_area", 0, v -> v >= 0, "0 or more");
    List<String> include = r.stringList(c, "config.classes", "classes");
    List<String> exclude = r.stringList(c, "config.exclude_classes", "exclude_classes");
    boolean visualization = r.bool(c, "config.visualization", "visualization", true);

    JsonObject sahi = r.object(c, "config.sahi", "sahi");
    boolean sliced = r.bool(sahi, "config.sahi.enabled", "enabled", true);
    Integer sliceHeight = r.optionalInt(sahi, "config.sahi.slice_height", "slice_height", 32, 8192);
    Integer sliceWidth = r.optionalInt(sahi, "config.sahi.slice_width", "slice_width", 32, 8192);
    if ((sliceHeight == null) != (sliceWidth == null)) {
      errors.add(new FieldError(sliceHeight == null ? "config.sahi.slice_height" : "config.sahi.slice_width",
          "slice_height and slice_width are given together, or both left out for automatic slicing"));
    }
    double overlapH = r.number(sahi, "config.sahi.overlap_height_ratio", "overlap_height_ratio", 0.2,
        v -> v >= 0 && v < 1, "at least 0 and below 1");
    double overlapW = r.number(sahi, "config.sahi.overlap_width_ratio", "overlap_width_ratio", 0.2,
        v -> v >= 0 && v < 1, "at least 0 and below 1");
    boolean standard = r.bool(sahi, "config.sahi.perform_standard_pred", "perform_standard_pred", true);
    MergeType type = r.choice(sahi, "config.sahi.postprocess_type", "postprocess_type", MergeType.GREEDYNMM,
        MergeType::parse);
    MatchMetric metric = r.choice(sahi, "config.sahi.postprocess_match_metric", "postprocess_match_metric",
        MatchMetric.IOS, MatchMetric::parse);
    double threshold = r.number(sahi, "config.sahi.postprocess_match_threshold", "postprocess_match_threshold", 0.5,
        v -> v >= 0 && v <= 1, "between 0 and 1");
    boolean agnostic = r.bool(sahi, "config.sahi.postprocess_class_agnostic", "postprocess_class_agnostic", false);

    JsonObject symbolicJson = r.object(c, "config.symbolic", "symbolic");
    Symbolic symbolic = Symbolic.OFF;
    if (r.bool(symbolicJson, "config.symbolic.enabled", "enabled", false)) {
      String ruleSet = r.string(symbolicJson, "config.symbolic.rule_set", "rule_set");
      if (ruleSet == null) {
        errors.add(new FieldError("config.symbolic.rule_set", "name the rule set to apply when the stage is enabled"));
      }
      symbolic = new Symbolic(true, ruleSet, r.scalars(symbolicJson, "config.symbolic.params", "params"),
          r.scalars(symbolicJson, "config.symbolic.metadata", "metadata"),
          r.perFile(symbolicJson, "config.symbolic.image_metadata", "image_metadata"));
    }
    Annotations annotations = new Annotations(r.bool(c, "config.create_annotations", "create_annotations", false),
        r.string(c, "config.flight_id", "flight_id"), r.string(c, "config.waypoint_id", "waypoint_id"));

    DetectionParams params = DetectionParams.defaults()
        .withConfidence((float) confidence)
        .withModelNmsIou(nmsIou)
        .withMinBoxArea(minArea)
        .withClasses(include, exclude)
        .withStandardPred(standard)
        .withPostprocess(type, metric, threshold, agnostic);
    if (!sliced) {
      params = params.fullImageOnly();
    } else if (sliceHeight != null && sliceWidth != null) {
      params = params.withSlices(sliceWidth, sliceHeight, overlapW, overlapH);
    } else {
      params = new DetectionParams(params.confidence(), null, null, overlapW, overlapH, standard, type, metric,
          threshold, agnostic, nmsIou, minArea, include, exclude);
    }
    return new JobConfig(model, params, visualization, symbolic, annotations);
  }

  /** Reads typed values, recording a field error instead of throwing. */
  private static final class Reader {
    private final List<FieldError> errors;

    Reader(List<FieldError> errors) {
      this.errors = errors;
    }

    JsonObject object(JsonObject c, String path, String key) {
      Object v = c.getValue(key);
      if (v == null) {
        return new JsonObject();
      }
      if (v instanceof JsonObject o) {
        return o;
      }
      errors.add(new FieldError(path, "must be an object"));
      return new JsonObject();
    }

    String string(JsonObject c, String path, String key) {
      Object v = c.getValue(key);
      if (v == null) {
        return null;
      }
      if (v instanceof String s && !s.isBlank()) {
        return s.strip();
      }
      errors.add(new FieldError(path, "must be a non-empty string"));
      return null;
    }

    double number(JsonObject c, String path, String key, double fallback, Predicate<Double> ok, String rule) {
      Object v = c.getValue(key);
      if (v == null) {
        return fallback;
      }
      if (!(v instanceof Number n) || Double.isNaN(n.doubleValue()) || !ok.test(n.doubleValue())) {
        errors.add(new FieldError(path, "must be a number " + rule + " (got " + v + ")"));
        return fallback;
      }
      return n.doubleValue();
    }

    Integer optionalInt(JsonObject c, String path, String key, int min, int max) {
      Object v = c.getValue(key);
      if (v == null) {
        return null;
      }
      if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.intValue() < min
          || n.intValue() > max) {
        errors.add(new FieldError(path, "must be a whole number from " + min + " to " + max + " (got " + v + ")"));
        return null;
      }
      return n.intValue();
    }

    boolean bool(JsonObject c, String path, String key, boolean fallback) {
      Object v = c.getValue(key);
      if (v == null) {
        return fallback;
      }
      if (v instanceof Boolean b) {
        return b;
      }
      errors.add(new FieldError(path, "must be true or false (got " + v + ")"));
      return fallback;
    }

    List<String> stringList(JsonObject c, String path, String key) {
      Object v = c.getValue(key);
      if (v == null) {
        return List.of();
      }
      List<String> out = new ArrayList<>();
      if (v instanceof JsonArray array) {
        for (Object item : array) {
          if (item instanceof String || item instanceof Number) {
            out.add(String.valueOf(item).toLowerCase(Locale.ROOT).strip());
          } else {
            errors.add(new FieldError(path, "must list class names or ids"));
            return List.of();
          }
        }
        return out;
      }
      errors.add(new FieldError(path, "must be an array of class names or ids"));
      return List.of();
    }

    /** An object of numbers, strings and booleans (facts for Prolog). */
    JsonObject scalars(JsonObject c, String path, String key) {
      JsonObject o = object(c, path, key);
      for (String field : o.fieldNames()) {
        Object v = o.getValue(field);
        if (!(v instanceof Number || v instanceof String || v instanceof Boolean)) {
          errors.add(new FieldError(path + "." + field, "must be a number, string or boolean"));
        } else if (!field.matches("[a-z][A-Za-z0-9_]{0,63}")) {
          errors.add(new FieldError(path + "." + field, "keys are lower-case words (letters, digits, _)"));
        }
      }
      return o;
    }

    JsonObject perFile(JsonObject c, String path, String key) {
      JsonObject o = object(c, path, key);
      for (String field : o.fieldNames()) {
        scalars(o, path + "." + field, field);
      }
      return o;
    }

    <T> T choice(JsonObject c, String path, String key, T fallback, java.util.function.Function<String, T> parse) {
      Object v = c.getValue(key);
      if (v == null) {
        return fallback;
      }
      try {
        return parse.apply(String.valueOf(v));
      } catch (IllegalArgumentException e) {
        errors.add(new FieldError(path, e.getMessage()));
        return fallback;
      }
    }
  }
}
