package io.osprey.inference;

import java.util.List;

/**
 * How one image is searched. Names and defaults follow SAHI's {@code get_sliced_prediction}: slices chosen from
 * the image size when {@code sliceWidth/sliceHeight} are null, 0.2 overlap, a full-image pass on top of the slices,
 * then GREEDYNMM with IOS at 0.5, class-wise.
 *
 * @param confidence        minimum score of a reported box (0..1)
 * @param sliceWidth        slice width in pixels, or null for SAHI's automatic choice
 * @param sliceHeight       slice height in pixels, or null for SAHI's automatic choice
 * @param overlapWidthRatio horizontal overlap of neighbouring slices as a fraction of the slice width (0..<1)
 * @param overlapHeightRatio vertical overlap as a fraction of the slice height (0..<1)
 * @param performStandardPred also run the model on the whole image and merge those boxes in (SAHI default true)
 * @param postprocessType   how boxes from different slices are combined: NMS, NMM or GREEDYNMM
 * @param matchMetric       IOU or IOS (intersection over the smaller box)
 * @param matchThreshold    boxes matching above this are suppressed (NMS) or merged (NMM, GREEDYNMM)
 * @param classAgnostic     merge across classes too
 * @param modelNmsIou       IoU of the per-slice class-wise NMS applied to raw model output (not for end2end models)
 * @param minBoxArea        boxes smaller than this many square pixels (after clipping) are dropped
 * @param includeClasses    only these classes (names or ids); empty means all
 * @param excludeClasses    never these classes (names or ids)
 */
public record DetectionParams(float confidence, Integer sliceWidth, Integer sliceHeight, double overlapWidthRatio,
                              double overlapHeightRatio, boolean performStandardPred, MergeType postprocessType,
                              MatchMetric matchMetric, double matchThreshold, boolean classAgnostic,
                              double modelNmsIou, double minBoxArea, List<String> includeClasses,
                              List<String> excludeClasses) {

  public static DetectionParams defaults() {
    return new DetectionParams(0.25f, null, null, 0.2, 0.2, true, MergeType.GREEDYNMM, MatchMetric.IOS, 0.5,
        false, 0.45, 0, List.of(), List.of());
  }

  /** One pass over the whole image, no slicing: what a plain YOLO predictor does. */
  public DetectionParams fullImageOnly() {
    return new DetectionParams(confidence, Integer.MAX_VALUE, Integer.MAX_VALUE, 0, 0, false, postprocessType,
        matchMetric, matchThreshold, classAgnostic, modelNmsIou, minBoxArea, includeClasses, excludeClasses);
  }

  public DetectionParams withSlices(int width, int height, double overlapWidth, double overlapHeight) {
    return new DetectionParams(confidence, width, height, overlapWidth, overlapHeight, performStandardPred,
        postprocessType, matchMetric, matchThreshold, classAgnostic, modelNmsIou, minBoxArea, includeClasses,
        excludeClasses);
  }

  public DetectionParams withConfidence(float value) {
    return new DetectionParams(value, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio,
        performStandardPred, postprocessType, matchMetric, matchThreshold, classAgnostic, modelNmsIou, minBoxArea,
        includeClasses, excludeClasses);
  }

  public DetectionParams withStandardPred(boolean value) {
    return new DetectionParams(confidence, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio, value,
        postprocessType, matchMetric, matchThreshold, classAgnostic, modelNmsIou, minBoxArea, includeClasses,
        excludeClasses);
  }

  public DetectionParams withPostprocess(MergeType type, MatchMetric metric, double threshold, boolean agnostic) {
    return new DetectionParams(confidence, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio,
        performStandardPred, type, metric, threshold, agnostic, modelNmsIou, minBoxArea, includeClasses,
        excludeClasses);
  }

  public DetectionParams withClasses(List<String> include, List<String> exclude) {
    return new DetectionParams(confidence, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio,
        performStandardPred, postprocessType, matchMetric, matchThreshold, classAgnostic, modelNmsIou, minBoxArea,
        List.copyOf(include), List.copyOf(exclude));
  }

  public DetectionParams withMinBoxArea(double value) {
    return new DetectionParams(confidence, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio,
        performStandardPred, postprocessType, matchMetric, matchThreshold, classAgnostic, modelNmsIou, value,
        includeClasses, excludeClasses);
  }

  public DetectionParams withModelNmsIou(double value) {
    return new DetectionParams(confidence, sliceWidth, sliceHeight, overlapWidthRatio, overlapHeightRatio,
        performStandardPred, postprocessType, matchMetric, matchThreshold, classAgnostic, value, minBoxArea,
        includeClasses, excludeClasses);
  }
}
