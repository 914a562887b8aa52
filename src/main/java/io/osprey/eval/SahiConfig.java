package io.osprey.eval;

import java.util.Locale;

/**
 * One detection configuration of an evaluation, in SAHI's terms (the service's {@code config.sahi} names): either
 * the whole image in one pass, or slices of {@code sliceWidth × sliceHeight} with the given overlap, optionally plus
 * the whole-image pass, merged by {@code postprocessType} / {@code matchMetric} / {@code matchThreshold}.
 *
 * @param label a short name for tables ("full", "sliced 512")
 */
public record SahiConfig(String label, boolean sliced, int sliceWidth, int sliceHeight, double overlapWidthRatio,
                         double overlapHeightRatio, boolean performStandardPred, String postprocessType,
                         String matchMetric, double matchThreshold, boolean classAgnostic, double confidence) {

  public SahiConfig {
    postprocessType = postprocessType.toUpperCase(Locale.ROOT);
    matchMetric = matchMetric.toUpperCase(Locale.ROOT);
    if (sliced && (sliceWidth <= 0 || sliceHeight <= 0)) {
      throw new IllegalArgumentException("slice size must be positive, got " + sliceWidth + "x" + sliceHeight);
    }
    if (overlapWidthRatio < 0 || overlapWidthRatio >= 1 || overlapHeightRatio < 0 || overlapHeightRatio >= 1) {
      throw new IllegalArgumentException("overlap ratios are in [0, 1)");
    }
    if (confidence < 0 || confidence > 1) {
      throw new IllegalArgumentException("confidence is in [0, 1], got " + confidence);
    }
  }

  /** The plain predictor: one pass over the whole image. */
  public static SahiConfig full(double confidence) {
    return new SahiConfig("full", false, 0, 0, 0.2, 0.2, false, "GREEDYNMM", "IOS", 0.5, false, confidence);
  }

  /** SAHI's defaults (0.2 overlap, standard pass on, GREEDYNMM with IOS at 0.5) at one slice size. */
  public static SahiConfig sliced(int width, int height, double confidence) {
    return new SahiConfig("sliced " + (width == height ? String.valueOf(width) : width + "x" + height), true, width,
        height, 0.2, 0.2, true, "GREEDYNMM", "IOS", 0.5, false, confidence);
  }

  public SahiConfig with(double overlap, boolean standardPred, String type, String metric, double threshold,
                         boolean agnostic) {
    return new SahiConfig(label, sliced, sliceWidth, sliceHeight, overlap, overlap, standardPred, type, metric,
        threshold, agnostic, confidence);
  }

  /** One line for reports. */
  public String describe() {
    if (!sliced) {
      return "whole image, one pass, confidence >= " + confidence;
    }
    return "slices " + sliceWidth + "x" + sliceHeight + ", overlap " + overlapWidthRatio + "/" + overlapHeightRatio
        + (performStandardPred ? ", plus the whole-image pass" : ", no whole-image pass") + ", " + postprocessType
        + " by " + matchMetric + " > " + matchThreshold + (classAgnostic ? " (class-agnostic)" : "")
        + ", confidence >= " + confidence;
  }
}
