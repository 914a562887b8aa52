package io.osprey.eval;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One evaluation: every configuration run over the ground truth's images by one detector, each scored with
 * {@link CocoEval}. The configurations see the same images and the same ground truth, so their numbers compare.
 */
public final class AccuracyRun {
  /**
   * What one configuration scored.
   *
   * @param evaluated the detections scored, in COCO's result form (category ids of the ground truth)
   */
  public record Outcome(SahiConfig config, CocoEval.Result result, int detections, int detectionsOutsideCategories,
                        double seconds, List<CocoEval.Detection> evaluated) {
  }

  /** Every configuration's outcome, and the ground truth they were scored on. */
  public record Report(CocoDataset evaluated, ClassMapping mapping, List<Outcome> outcomes) {
  }

  private AccuracyRun() {
  }

  /**
   * @param scoreUnmapped also score categories no model class stands for (they count 0); otherwise they are left
   *                      out and listed in the mapping
   */
  public static Report run(CocoDataset truth, Path imageDir, Detector detector, List<SahiConfig> configs,
                           ClassMapping mapping, boolean scoreUnmapped) throws Exception {
    List<Detector.ImageFile> files = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    for (CocoDataset.Image image : truth.images()) {
      Path file = imageDir.resolve(image.fileName());
      if (!Files.isRegularFile(file)) {
        missing.add(file.toString());
      }
      files.add(new Detector.ImageFile(image.id(), file));
    }
    if (!missing.isEmpty()) {
      throw new NoSuchFileException(missing.size() + " image(s) of the ground truth not found: "
          + String.join(", ", missing.subList(0, Math.min(5, missing.size()))));
    }
    CocoDataset evaluated = scoreUnmapped ? truth : new CocoDataset(truth.images(),
        truth.categories().stream().filter(c -> mapping.mapped(c.id())).toList(),
        truth.annotations().stream().filter(a -> mapping.mapped(a.categoryId())).toList());
    if (evaluated.categories().isEmpty()) {
      throw new IllegalArgumentException("no ground-truth category maps to a model class (unmapped: "
          + mapping.unmapped().stream().map(ClassMapping.Unmapped::name).toList() + "); name them with --map");
    }
    List<Outcome> outcomes = new ArrayList<>();
    for (SahiConfig config : configs) {
      long start = System.nanoTime();
      Map<Long, List<Detector.Found>> found = detector.detect(files, config);
      double seconds = (System.nanoTime() - start) / 1e9;
      List<CocoEval.Detection> detections = new ArrayList<>();
      int total = 0;
      int outside = 0;
      for (Map.Entry<Long, List<Detector.Found>> e : found.entrySet()) {
        for (Detector.Found f : e.getValue()) {
          total++;
          Long category = mapping.categoryOf(f.className());
          if (category == null) {
            outside++;
            continue;
          }
          detections.add(new CocoEval.Detection(e.getKey(), category, f.score(), f.x1(), f.y1(), f.x2() - f.x1(),
              f.y2() - f.y1()));
        }
      }
      outcomes.add(new Outcome(config, CocoEval.evaluate(evaluated, detections), total, outside, seconds,
          List.copyOf(detections)));
    }
    return new Report(evaluated, mapping, outcomes);
  }
}
