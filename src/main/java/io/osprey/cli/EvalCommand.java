package io.osprey.cli;

import io.osprey.eval.AccuracyRun;
import io.osprey.eval.ClassMapping;
import io.osprey.eval.CocoDataset;
import io.osprey.eval.CocoEval;
import io.osprey.eval.Detector;
import io.osprey.eval.LocalDetector;
import io.osprey.eval.MarkdownReport;
import io.osprey.eval.SahiConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code osprey eval}: COCO accuracy of one model, the whole image against SAHI slicing, on a COCO ground truth.
 * Writes PREFIX.json and PREFIX.md and prints the table. The metric code is {@link CocoEval} (pycocotools' COCOeval).
 */
@Command(name = "eval", description = {"COCO accuracy (pycocotools' AP, AP50, AP75, AP/AR by size, AR@1/10/100)"
    + " of a model on a COCO ground truth, whole image against SAHI slices, side by side. Runs through the service"
    + " (--url, token options of osprey) or in this process with --local. Writes PREFIX.json and PREFIX.md."})
final class EvalCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--gt", required = true, description = "COCO ground-truth JSON (images, categories, annotations).")
  Path groundTruth;

  @Option(names = "--images", description = "Folder the ground truth's file_name values are relative to"
      + " (default: the ground truth's folder).")
  Path images;

  @Option(names = "--model", description = "Model name (default: the service's default; with --local, yolov8n_int8).")
  String model;

  @Option(names = "--slice", split = ",", defaultValue = "512", description = "Slice sizes, each N or WxH;"
      + " one sliced configuration per size, all beside the whole-image pass (default ${DEFAULT-VALUE}).")
  List<String> slices;

  @Option(names = "--overlap", defaultValue = "0.2", description = "Slice overlap ratio, both directions"
      + " (SAHI default ${DEFAULT-VALUE}).")
  double overlap;

  @Option(names = "--no-standard-pred", description = "Sliced runs skip SAHI's extra whole-image pass.")
  boolean noStandardPred;

  @Option(names = "--postprocess", defaultValue = "GREEDYNMM", description = "How slices' boxes merge: NMS, NMM,"
      + " GREEDYNMM (default).")
  String postprocess;

  @Option(names = "--match-metric", defaultValue = "IOS", description = "IOU or IOS (default).")
  String matchMetric;

  @Option(names = "--match-threshold", defaultValue = "0.5", description = "Merge threshold (default 0.5).")
  double matchThreshold;

  @Option(names = "--class-agnostic", description = "Merge boxes across classes.")
  boolean classAgnostic;

  @Option(names = "--confidence", defaultValue = "0.25", description = "Lowest score kept, every configuration"
      + " (default ${DEFAULT-VALUE}, the service's default).")
  double confidence;

  @Option(names = "--map", description = "GT_CATEGORY=MODEL_CLASS[,MODEL_CLASS...]: model classes that count as a"
      + " ground-truth category (default: the same name). Repeatable, e.g. --map human=person --map car=car,truck,bus.")
  List<String> maps = new ArrayList<>();

  @Option(names = "--score-unmapped", description = "Score categories no model class stands for as 0 (pycocotools'"
      + " answer) instead of leaving them out and listing them.")
  boolean scoreUnmapped;

  @Option(names = "--area-from", defaultValue = "auto", description = "Object area for small/medium/large: field"
      + " (the file's area, as pycocotools), bbox (w*h), auto (the field unless absent or larger than its box, then"
      + " w*h; default).")
  String areaFrom;

  @Option(names = "--out", description = "Output prefix: writes PREFIX.json and PREFIX.md (default eval-MODEL).")
  String out;

  @Option(names = "--detections", description = "Also write each configuration's scored detections in COCO's"
      + " results format (PREFIX-LABEL.results.json: image_id, category_id, bbox, score), e.g. for pycocotools.")
  boolean writeDetections;

  @Option(names = "--title", description = "Heading of the Markdown report.")
  String title;

  @Option(names = "--local", description = "Run the engine in this process instead of calling a service.")
  boolean local;

  @Option(names = "--models-dir", defaultValue = "${env:OSPREY_MODELS_DIR:-models}", description = "With --local:"
      + " folder of NAME.onnx (default ${DEFAULT-VALUE}).")
  Path modelsDir;

  @Option(names = "--device", defaultValue = "auto", description = "With --local: cpu, cuda or auto (default).")
  String device;

  @Option(names = "--threads", defaultValue = "0", description = "With --local: ONNX Runtime threads (0 = all cores).")
  int threads;

  @Option(names = "--native-cache", defaultValue = "var/native", description = "With --local: where native"
      + " libraries are unpacked (default ${DEFAULT-VALUE}).")
  Path nativeCache;

  @Option(names = "--class-names", description = "Through a service: the model's class names, one a line (e.g."
      + " coco80.names), to check the mapping; without it the mapping is not checked.")
  Path classNames;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      try {
        return evaluate();
      } catch (IllegalArgumentException e) {
        // an unknown model, a --map that names nothing, no category left to score: the command line is wrong
        throw new ApiClient.Failure(ApiClient.USAGE, null, e.getMessage());
      }
    });
  }

  private int evaluate() throws Exception {
    if (local && System.getenv("OSPREY_LOG_LEVEL") == null && System.getProperty("OSPREY_LOG_LEVEL") == null) {
      // the engine's INFO lines (model loaded, runtime chosen) would mix with the table on stdout; set before the
      // first logger is made (reading JSON with Vert.x already makes one)
      System.setProperty("OSPREY_LOG_LEVEL", "WARN");
    }
    {
      CocoDataset.AreaSource areaSource = parseArea(areaFrom);
      CocoDataset truth = read(groundTruth, areaSource);
      Path imageDir = images != null ? images : groundTruth.toAbsolutePath().getParent();
      List<SahiConfig> configs = configs();
      Map<String, List<String>> aliases = aliases(maps);
      String modelName = model != null ? model : local ? "yolov8n_int8" : null;
      try (Detector detector = local
          ? new LocalDetector(modelsDir, modelName, device, threads, nativeCache)
          : new ApiDetector(root.client(), modelName, classNames, spec.commandLine().getErr())) {
        ClassMapping mapping = ClassMapping.of(truth, detector.classNames(), aliases);
        for (ClassMapping.Unmapped u : mapping.unmapped()) {
          spec.commandLine().getErr().println("osprey: " + (scoreUnmapped ? "scored as 0" : "not evaluated")
              + ": category '" + u.name() + "' (" + u.annotations() + " objects): " + u.reason());
        }
        spec.commandLine().getErr().flush();
        AccuracyRun.Report report = AccuracyRun.run(truth, imageDir, detector, configs, mapping, scoreUnmapped);
        String name = modelName == null ? "default" : modelName;
        String prefix = out != null ? out : "eval-" + name;
        List<String> context = List.of(
            "model: " + name + "; detection: " + detector.where(),
            "ground truth: " + groundTruth.getFileName() + " (" + truth.images().size() + " image(s), "
                + report.evaluated().annotations().size() + " objects evaluated); object areas: " + areaNote(areaSource));
        String md = MarkdownReport.render(title != null ? title : name + " on " + groundTruth.getFileName(), context,
            report);
        JsonObject json = json(report, name, detector.where(), areaSource);
        Path jsonFile = Path.of(prefix + ".json");
        Path mdFile = Path.of(prefix + ".md");
        if (jsonFile.toAbsolutePath().getParent() != null) {
          Files.createDirectories(jsonFile.toAbsolutePath().getParent());
        }
        Files.writeString(jsonFile, json.encodePrettily() + "\n");
        Files.writeString(mdFile, md);
        if (writeDetections) {
          for (AccuracyRun.Outcome o : report.outcomes()) {
            JsonArray results = new JsonArray();
            for (CocoEval.Detection d : o.evaluated()) {
              results.add(new JsonObject().put("image_id", d.imageId()).put("category_id", d.categoryId())
                  .put("bbox", new JsonArray().add(d.x()).add(d.y()).add(d.width()).add(d.height()))
                  .put("score", d.score()));
            }
            Files.writeString(Path.of(prefix + "-" + o.config().label().replace(' ', '-') + ".results.json"),
                results.encode());
          }
        }
        if (root.json) {
          root.print(json);
        } else {
          root.out().println(md);
          root.out().println("wrote " + jsonFile + " and " + mdFile);
          root.out().flush();
        }
      }
      return ApiClient.OK;
    }
  }

  private static CocoDataset.AreaSource parseArea(String text) {
    try {
      return CocoDataset.AreaSource.valueOf(text.strip().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, "--area-from is field, bbox or auto, not " + text);
    }
  }

  private static String areaNote(CocoDataset.AreaSource s) {
    return switch (s) {
      case FIELD -> "the file's area field (pycocotools)";
      case BBOX -> "box width x height";
      case AUTO -> "the file's area field, or box width x height where the field is absent or larger than the box";
    };
  }

  List<SahiConfig> configs() {
    List<SahiConfig> configs = new ArrayList<>();
    try {
      configs.add(SahiConfig.full(confidence));
      for (String s : slices) {
        String[] wh = s.strip().toLowerCase(java.util.Locale.ROOT).split("x");
        int w = Integer.parseInt(wh[0]);
        int h = wh.length > 1 ? Integer.parseInt(wh[1]) : w;
        configs.add(SahiConfig.sliced(w, h, confidence).with(overlap, !noStandardPred, postprocess, matchMetric,
            matchThreshold, classAgnostic));
      }
      for (SahiConfig c : configs) {
        LocalValues.check(c);
      }
    } catch (IllegalArgumentException e) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, e.getMessage());
    }
    return configs;
  }

  /** Checks the merge names here, so a typo fails before any detection runs. */
  private static final class LocalValues {
    static void check(SahiConfig c) {
      if (!List.of("NMS", "NMM", "GREEDYNMM").contains(c.postprocessType())) {
        throw new IllegalArgumentException("--postprocess is NMS, NMM or GREEDYNMM, not " + c.postprocessType());
      }
      if (!List.of("IOU", "IOS").contains(c.matchMetric())) {
        throw new IllegalArgumentException("--match-metric is IOU or IOS, not " + c.matchMetric());
      }
    }
  }

  static Map<String, List<String>> aliases(List<String> maps) {
    Map<String, List<String>> aliases = new LinkedHashMap<>();
    for (String m : maps) {
      int eq = m.indexOf('=');
      if (eq <= 0 || eq == m.length() - 1) {
        throw new ApiClient.Failure(ApiClient.USAGE, null, "--map is GT_CATEGORY=MODEL_CLASS[,...], not " + m);
      }
      aliases.put(m.substring(0, eq).strip(), Arrays.stream(m.substring(eq + 1).split(",")).map(String::strip)
          .filter(s -> !s.isEmpty()).toList());
    }
    return aliases;
  }

  /** Reads a COCO ground truth; a file that is not one fails with what is wrong. */
  static CocoDataset read(Path file, CocoDataset.AreaSource areaSource) throws IOException {
    JsonObject coco;
    try {
      coco = new JsonObject(Files.readString(file));
    } catch (RuntimeException e) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, file + " is not a JSON object: " + e.getMessage());
    }
    try {
      List<CocoDataset.Image> images = new ArrayList<>();
      for (Object o : required(coco, "images")) {
        JsonObject i = (JsonObject) o;
        images.add(new CocoDataset.Image(i.getLong("id"), i.getString("file_name"), i.getInteger("width", 0),
            i.getInteger("height", 0)));
      }
      List<CocoDataset.Category> categories = new ArrayList<>();
      for (Object o : required(coco, "categories")) {
        JsonObject c = (JsonObject) o;
        categories.add(new CocoDataset.Category(c.getLong("id"), c.getString("name")));
      }
      List<CocoDataset.Annotation> annotations = new ArrayList<>();
      for (Object o : required(coco, "annotations")) {
        JsonObject a = (JsonObject) o;
        JsonArray b = a.getJsonArray("bbox");
        if (b == null || b.size() != 4) {
          throw new IllegalArgumentException("annotation " + a.getValue("id") + " has no bbox [x, y, w, h]");
        }
        Object crowd = a.getValue("iscrowd");
        boolean isCrowd = crowd instanceof Boolean x ? x : crowd instanceof Number n && n.intValue() != 0;
        double w = b.getDouble(2);
        double h = b.getDouble(3);
        annotations.add(new CocoDataset.Annotation(a.getLong("id"), a.getLong("image_id"), a.getLong("category_id"),
            b.getDouble(0), b.getDouble(1), w, h, areaSource.area(a.getDouble("area"), w, h), isCrowd));
      }
      return new CocoDataset(images, categories, annotations);
    } catch (ClassCastException | NullPointerException | IllegalArgumentException e) {
      throw new ApiClient.Failure(ApiClient.USAGE, null, file + " is not a COCO ground truth: " + e.getMessage());
    }
  }

  private static JsonArray required(JsonObject coco, String key) {
    JsonArray a = coco.getJsonArray(key);
    if (a == null) {
      throw new IllegalArgumentException("no \"" + key + "\" array");
    }
    return a;
  }

  static JsonObject json(AccuracyRun.Report report, String model, String where, CocoDataset.AreaSource areaSource) {
    JsonArray categories = new JsonArray();
    for (CocoDataset.Category c : report.evaluated().categories()) {
      categories.add(new JsonObject().put("id", c.id()).put("name", c.name())
          .put("model_classes", new JsonArray(report.mapping().modelClasses(c.id())))
          .put("annotations", report.evaluated().annotations().stream().filter(a -> a.categoryId() == c.id()).count()));
    }
    JsonArray unmapped = new JsonArray();
    report.mapping().unmapped().forEach(u -> unmapped.add(new JsonObject().put("id", u.categoryId())
        .put("name", u.name()).put("annotations", u.annotations()).put("reason", u.reason())));
    JsonArray configurations = new JsonArray();
    for (AccuracyRun.Outcome o : report.outcomes()) {
      SahiConfig c = o.config();
      JsonObject perClass = new JsonObject();
      for (long id : o.result().categoryIds()) {
        perClass.put(o.result().name(id), summary(o.result().summary(id)).put("category_id", id));
      }
      configurations.add(new JsonObject().put("label", c.label()).put("description", c.describe())
          .put("sahi", new JsonObject().put("enabled", c.sliced()).put("slice_width", c.sliced() ? c.sliceWidth() : null)
              .put("slice_height", c.sliced() ? c.sliceHeight() : null)
              .put("overlap_width_ratio", c.overlapWidthRatio()).put("overlap_height_ratio", c.overlapHeightRatio())
              .put("perform_standard_pred", c.performStandardPred()).put("postprocess_type", c.postprocessType())
              .put("postprocess_match_metric", c.matchMetric()).put("postprocess_match_threshold", c.matchThreshold())
              .put("postprocess_class_agnostic", c.classAgnostic()))
          .put("confidence", c.confidence())
          .put("seconds", Math.round(o.seconds() * 1000) / 1000.0)
          .put("detections", o.detections())
          .put("detections_outside_categories", o.detectionsOutsideCategories())
          .put("overall", summary(o.result().summary()))
          .put("per_class", perClass));
    }
    return new JsonObject().put("model", model).put("detection", where)
        .put("area_from", areaSource.name().toLowerCase(java.util.Locale.ROOT))
        .put("images", report.evaluated().images().size())
        .put("categories", categories).put("unevaluated_categories", unmapped)
        .put("metrics_note", "pycocotools COCOeval bbox: AP over IoU .50:.05:.95, 101-point interpolation, area"
            + " small < 32^2 <= medium <= 96^2 < large, maxDets 1/10/100; -1 = no ground truth in that range")
        .put("configurations", configurations);
  }

  private static JsonObject summary(CocoEval.Summary s) {
    JsonObject o = new JsonObject();
    s.metrics().forEach(o::put);
    JsonObject counts = new JsonObject();
    s.counts().forEach((area, c) -> counts.put(area, new JsonObject().put("truth", c.truth()).put("found", c.found())
        .put("true_positives", c.truePositives()).put("false_positives", c.falsePositives())));
    return o.put("counts_at_iou50", counts);
  }
}
