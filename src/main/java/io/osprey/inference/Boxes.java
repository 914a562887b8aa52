package io.osprey.inference;

import java.util.Objects;

/**
 * Box geometry on {@link Detection}s, with SAHI's definitions ({@code sahi/postprocess/utils.py}): areas are
 * {@code (x2 - x1) * (y2 - y1)}, intersections are clamped at zero, IoS divides by the smaller of the two areas.
 *
 * <p>Arithmetic is in {@code double} on the records' {@code float} coordinates. Where a ratio's denominator is zero
 * (two zero-area boxes, or a zero-area box under IoS) the ratio is {@code 0}, never NaN: newer SAHI backends do the
 * same ({@code _safe_ratio}), and a zero ratio can never pass a match threshold, which is what a box with no area
 * should do.
 */
public final class Boxes {

  private Boxes() {
  }

  /** Area of the overlap of {@code a} and {@code b}; zero when they are disjoint or only touch. */
  public static double intersection(Detection a, Detection b) {
    return intersection(a.x1(), a.y1(), a.x2(), a.y2(), b.x1(), b.y1(), b.x2(), b.y2());
  }

  /** Intersection over union, in {@code [0, 1]}; {@code 0} when the union has no area. */
  public static double iou(Detection a, Detection b) {
    double inter = intersection(a, b);
    return iou(inter, area(a), area(b));
  }

  /** Intersection over the smaller of the two areas (SAHI's IOS), in {@code [0, 1]}; {@code 0} for a zero-area box. */
  public static double ios(Detection a, Detection b) {
    double inter = intersection(a, b);
    return ios(inter, area(a), area(b));
  }

  /** {@link #iou} or {@link #ios}, as {@code metric} says. */
  public static double match(Detection a, Detection b, MatchMetric metric) {
    Objects.requireNonNull(metric, "metric");
    return metric == MatchMetric.IOU ? iou(a, b) : ios(a, b);
  }

  /** {@code d} moved by {@code (offsetX, offsetY)}: from a tile's pixels to the full image's, given the tile origin. */
  public static Detection shift(Detection d, int offsetX, int offsetY) {
    if (offsetX == 0 && offsetY == 0) {
      return d;
    }
    return d.withBox(d.x1() + offsetX, d.y1() + offsetY, d.x2() + offsetX, d.y2() + offsetY);
  }

  /**
   * {@code d} clipped to the image {@code [0, width] x [0, height]}; {@code d} itself when already inside, and
   * {@code null} when nothing with area is left (the box lies outside the image, or was degenerate to begin with).
   *
   * @throws IllegalArgumentException when {@code width} or {@code height} is not positive
   */
  public static Detection clip(Detection d, int width, int height) {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
    }
    float x1 = Math.max(0f, d.x1());
    float y1 = Math.max(0f, d.y1());
    float x2 = Math.min(width, d.x2());
    float y2 = Math.min(height, d.y2());
    // negated so that NaN coordinates also count as "no area"
    if (!(x2 > x1 && y2 > y1)) {
      return null;
    }
    if (x1 == d.x1() && y1 == d.y1() && x2 == d.x2() && y2 == d.y2()) {
      return d;
    }
    return d.withBox(x1, y1, x2, y2);
  }

  /**
   * The smallest box holding both {@code a} and {@code b} (SAHI's {@code calculate_box_union}), carrying {@code a}'s
   * class and score; {@link Merging} decides the merged score and class separately.
   */
  public static Detection union(Detection a, Detection b) {
    return a.withBox(Math.min(a.x1(), b.x1()), Math.min(a.y1(), b.y1()),
        Math.max(a.x2(), b.x2()), Math.max(a.y2(), b.y2()));
  }

  // ---- primitive forms, shared with Merging so that its inner loops allocate nothing ----

  static double area(Detection d) {
    return area(d.x1(), d.y1(), d.x2(), d.y2());
  }

  static double area(double x1, double y1, double x2, double y2) {
    return Math.max(0d, x2 - x1) * Math.max(0d, y2 - y1);
  }

  static double intersection(double ax1, double ay1, double ax2, double ay2,
      double bx1, double by1, double bx2, double by2) {
    double w = Math.min(ax2, bx2) - Math.max(ax1, bx1);
    double h = Math.min(ay2, by2) - Math.max(ay1, by1);
    return w > 0 && h > 0 ? w * h : 0d;
  }

  static double iou(double inter, double areaA, double areaB) {
    double union = areaA + areaB - inter;
    return union > 0 ? inter / union : 0d;
  }

  static double ios(double inter, double areaA, double areaB) {
    double smaller = Math.min(areaA, areaB);
    return smaller > 0 ? inter / smaller : 0d;
  }

  static double match(MatchMetric metric, double inter, double areaA, double areaB) {
    return metric == MatchMetric.IOU ? iou(inter, areaA, areaB) : ios(inter, areaA, areaB);
  }
}
