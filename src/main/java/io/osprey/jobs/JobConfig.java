package io.osprey.jobs;

import io.osprey.inference.DetectionParams;
import io.osprey.inference.MatchMetric;
import io.osprey.inference.MergeType;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The {@code config} object of a predict request. Types, ranges and unknown fields are checked against the
 * {@code InferenceConfig} schema of openapi.yaml before this runs ({@link io.osprey.http.RequestContract}); what the
 * schema cannot say is checked here: slice height and width go together, an enabled rules stage names its rule set,
 * merge names are case-insensitive, fact keys are lower-case words. Every problem is collected (field path and
 * reason) so the client sees all of them in one 400 INVALID_CONFIG. A value of the wrong type (already reported by
 * the schema) reads as its default. The {@code sahi} object takes SAHI's own parameter names and defaults.
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
    /** The schema's problems, as field errors of INVALID_CONFIG. */
    public static List<FieldError> of(List<io.osprey.http.RequestContract.Problem> problems) {
      List<FieldError> errors = new ArrayList<>();
      problems.forEach(p -> errors.add(new FieldError(p.field(), p.message())));
      return errors;
    }

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

  /** Parses a request's config (null = all defaults); problems the schema cannot see go into {@code errors}. */
  public static JobConfig parse(JsonObject config, List<FieldError> errors) {
    JsonObject c = config == null ? new JsonObject() : config;
    Reader r = new Reader(errors);
    String model = r.string(c, "model");
    double confidence = r.number(c, "confidence", 0.25);
    double nmsIou = r.number(c, "nms_iou", 0.45);
    double minArea = r.number(c, "min_box_area", 0);
    List<String> include = r.stringList(c, "classes");
    List<String> exclude = r.stringList(c, "exclude_classes");
    boolean visualization = r.bool(c, "visualization", true);

    JsonObject sahi = r.object(c, "sahi");
    boolean sliced = r.bool(sahi, "enabled", true);
    Integer sliceHeight = r.optionalInt(sahi, "slice_height");
    Integer sliceWidth = r.optionalInt(sahi, "slice_width");
    if ((sliceHeight == null) != (sliceWidth == null)) {
      errors.add(new FieldError(sliceHeight == null ? "config.sahi.slice_height" : "config.sahi.slice_width",
          "slice_height and slice_width are given together, or both left out for automatic slicing"));
    }
    double overlapH = r.number(sahi, "overlap_height_ratio", 0.2);
    double overlapW = r.number(sahi, "overlap_width_ratio", 0.2);
    boolean standard = r.bool(sahi, "perform_standard_pred", true);
    MergeType type = r.choice(sahi, "config.sahi.postprocess_type", "postprocess_type", MergeType.GREEDYNMM,
        MergeType::parse);
    MatchMetric metric = r.choice(sahi, "config.sahi.postprocess_match_metric", "postprocess_match_metric",
        MatchMetric.IOS, MatchMetric::parse);
    double threshold = r.number(sahi, "postprocess_match_threshold", 0.5);
    boolean agnostic = r.bool(sahi, "postprocess_class_agnostic", false);

    JsonObject symbolicJson = r.object(c, "symbolic");
    Symbolic symbolic = Symbolic.OFF;
    if (r.bool(symbolicJson, "enabled", false)) {
      String ruleSet = r.string(symbolicJson, "rule_set");
      if (ruleSet == null) {
        errors.add(new FieldError("config.symbolic.rule_set", "name the rule set to apply when the stage is enabled"));
      }
      symbolic = new Symbolic(true, ruleSet, r.facts(symbolicJson, "config.symbolic.params", "params"),
          r.facts(symbolicJson, "config.symbolic.metadata", "metadata"),
          r.perFile(symbolicJson, "config.symbolic.image_metadata", "image_metadata"));
    }
    Annotations annotations = new Annotations(r.bool(c, "create_annotations", false), r.string(c, "flight_id"),
        r.string(c, "waypoint_id"));

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

  /** Reads values of the expected type; anything else (reported by the schema) reads as the default. */
  private static final class Reader {
    private final List<FieldError> errors;

    Reader(List<FieldError> errors) {
      this.errors = errors;
    }

    JsonObject object(JsonObject c, String key) {
      return c.getValue(key) instanceof JsonObject o ? o : new JsonObject();
    }

    String string(JsonObject c, String key) {
      return c.getValue(key) instanceof String s && !s.isBlank() ? s.strip() : null;
    }

    double number(JsonObject c, String key, double fallback) {
      return c.getValue(key) instanceof Number n && !Double.isNaN(n.doubleValue()) ? n.doubleValue() : fallback;
    }

    Integer optionalInt(JsonObject c, String key) {
      return c.getValue(key) instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) ? n.intValue()
          : null;
    }

    boolean bool(JsonObject c, String key, boolean fallback) {
      return c.getValue(key) instanceof Boolean b ? b : fallback;
    }

    List<String> stringList(JsonObject c, String key) {
      List<String> out = new ArrayList<>();
      if (c.getValue(key) instanceof JsonArray array) {
        for (Object item : array) {
          if (item instanceof String || item instanceof Number) {
            out.add(String.valueOf(item).toLowerCase(Locale.ROOT).strip());
          }
        }
      }
      return out;
    }

    /**
     * Facts for Prolog: the schema allows only numbers, strings and booleans as values; keys must also be
     * lower-case words (JSON Schema in OpenAPI 3.0 cannot constrain keys).
     */
    JsonObject facts(JsonObject c, String path, String key) {
      JsonObject o = object(c, key);
      for (String field : o.fieldNames()) {
        if (!field.matches("[a-z][A-Za-z0-9_]{0,63}")) {
          errors.add(new FieldError(path + "." + field, "keys are lower-case words (letters, digits, _)"));
        }
      }
      return o;
    }

    JsonObject perFile(JsonObject c, String path, String key) {
      JsonObject o = object(c, key);
      for (String field : o.fieldNames()) {
        facts(o, path + "." + field, field);
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
