package io.osprey.eval;

import io.osprey.inference.DetectionEngine;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.ImageDetections;
import io.osprey.inference.MatchMetric;
import io.osprey.inference.MergeType;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OrtRuntime;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Detection in this process with the service's own engine (the same slicing, letterboxing, decoding and merging a
 * worker runs), without a service, database or broker.
 */
public final class LocalDetector implements Detector {
  private final ModelRegistry registry;
  private final DetectionEngine engine;
  private final String provider;

  /**
   * @param modelsDir  folder of {@code NAME.onnx} files
   * @param device     "cpu", "cuda" or "auto"
   * @param threads    ONNX Runtime intra-op threads (0 = every core)
   * @param nativeCache where native libraries are unpacked once
   */
  public LocalDetector(Path modelsDir, String model, String device, int threads, Path nativeCache)
      throws Exception {
    NativeLibraries.configure(nativeCache.toAbsolutePath());
    OrtRuntime runtime = new OrtRuntime(OrtRuntime.parseDevice(device), threads, 1);
    this.registry = new ModelRegistry(runtime, modelsDir, model);
    if (!registry.exists(model)) {
      registry.close();
      throw new IllegalArgumentException("no model " + model + " in " + modelsDir.toAbsolutePath()
          + " (available: " + registry.available() + ")");
    }
    try {
      this.engine = new DetectionEngine(registry.get(model), 8,
          DetectionEngine.overlapPays(runtime.intraOpThreads()));
    } catch (Exception e) {
      registry.close();
      throw e;
    }
    this.provider = runtime.provider();
  }

  /** The engine's parameters for one configuration. */
  static DetectionParams params(SahiConfig c) {
    DetectionParams p = DetectionParams.defaults().withConfidence((float) c.confidence())
        .withStandardPred(c.performStandardPred())
        .withPostprocess(MergeType.parse(c.postprocessType()), MatchMetric.parse(c.matchMetric()),
            c.matchThreshold(), c.classAgnostic());
    return c.sliced() ? p.withSlices(c.sliceWidth(), c.sliceHeight(), c.overlapWidthRatio(), c.overlapHeightRatio())
        : p.fullImageOnly();
  }

  @Override
  public Map<Long, List<Found>> detect(List<ImageFile> images, SahiConfig config) throws Exception {
    DetectionParams params = params(config);
    Map<Long, List<Found>> out = new LinkedHashMap<>();
    for (ImageFile image : images) {
      ImageDetections r = engine.detect(image.file(), params);
      List<Found> found = new ArrayList<>();
      for (io.osprey.inference.Detection d : r.detections()) {
        found.add(new Found(d.className(), d.score(), d.x1(), d.y1(), d.x2(), d.y2()));
      }
      out.put(image.imageId(), found);
    }
    return out;
  }

  @Override
  public List<String> classNames() {
    return engine.model().classNames();
  }

  @Override
  public String where() {
    return "in-process engine (" + provider + ")";
  }

  @Override
  public void close() {
    engine.close();
    registry.close();
  }
}
