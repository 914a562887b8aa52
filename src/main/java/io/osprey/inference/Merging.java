package io.osprey.inference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Combines overlapping detections from neighbouring tiles the way SAHI's {@code sahi/postprocess/combine.py} does
 * ({@code NMSPostprocess}, {@code NMMPostprocess}, {@code GreedyNMMPostprocess} over {@code nms}, {@code nmm},
 * {@code greedy_nmm} and their {@code batched_*} per-class forms).
 *
 * <p>Two thresholds tests appear, both as in SAHI, and they are deliberately different:
 * <ul>
 *   <li>choosing candidates (suppressing in NMS, listing a box for merging in NMM/GREEDYNMM) takes an overlap
 *       <em>at or above</em> the threshold ({@code match_metric_value < match_threshold} keeps a box in SAHI);</li>
 *   <li>actually merging a listed box ({@code has_match}) takes an overlap strictly <em>above</em> the threshold,
 *       measured against the keeper's box as it grows with each merge.</li>
 * </ul>
 * So in NMM and GREEDYNMM a listed box that fails the second test is neither merged nor kept: it disappears, exactly
 * as in SAHI (a box at exactly the threshold, or one that no longer matches the grown box under IoU).
 *
 * <p>Merging two detections (SAHI's {@code merge_object_prediction_pair}) gives the union of their boxes, the higher
 * score, and the class of the detection with the strictly higher score, else of the one being merged in.
 *
 * <p>Output order: by score descending, ties by position in the input list. Merged detections carry their keeper's
 * score (it is the highest of its group), so they sort where the keeper would. SAHI returns per-class results one
 * class after another; this interleaves classes by score, which is the same set of detections in a stable order.
 * Ties in score are also broken by input position where current SAHI breaks them by coordinates; scores that tie
 * exactly are rare in practice, and input order is what callers here can control.
 *
 * <p>Cost: one sort of the input, primitive arrays, and the pairwise comparisons within a class that SAHI also makes
 * (O(n²) comparisons at worst, no per-comparison allocation). The input list is never modified.
 */
public final class Merging {

  private Merging() {
  }

  /**
   * Removes (NMS) or merges (NMM, GREEDYNMM) overlapping detections.
   *
   * @param detections detections in full-image pixels; not modified
   * @param type how overlapping detections are combined
   * @param metric how overlap is measured
   * @param threshold overlap at which detections count as the same object (SAHI's default is 0.5)
   * @param classAgnostic whether detections of different classes may be combined; SAHI's default (false) handles
   *     each class on its own
   * @return the combined detections, by score descending then input position; unmodifiable
   * @throws IllegalArgumentException for a NaN threshold
   * @throws NullPointerException for a null argument or a null detection
   */
  public static List<Detection> merge(List<Detection> detections, MergeType type, MatchMetric metric,
      double threshold, boolean classAgnostic) {
    Objects.requireNonNull(detections, "detections");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(metric, "metric");
    if (Double.isNaN(threshold)) {
      throw new IllegalArgumentException("threshold must be a number");
    }
    if (detections.isEmpty()) {
      return List.of();
    }
    return new Run(detections.toArray(new Detection[0]), metric, threshold).execute(type, classAgnostic);
  }

  /** Sort keys mapping float order onto signed int order, so scores can be sorted as primitives. */
  static int sortableBits(float score) {
    int bits = Float.floatToIntBits(score + 0f); // + 0f turns -0.0 into 0.0: Python treats them as equal
    return bits ^ ((bits >> 31) & 0x7fffffff);
  }

  /** One call's state; every array is indexed by position in score order (0 = highest score). */
  private static final class Run {
    private final Detection[] input;
    private final MatchMetric metric;
    private final double threshold;
    private final int n;
    /** Input index of the detection at each position. */
    private final int[] source;
    private final double[] x1;
    private final double[] y1;
    private final double[] x2;
    private final double[] y2;
    private final double[] area;
    private final float[] score;
    /** Result at the keeper's position, null where nothing is kept. */
    private final Detection[] kept;
    /** NMS, GREEDYNMM: whether a position was suppressed or taken. Classes own disjoint positions, so one array. */
    private boolean[] taken;
    /** NMM: each position's keeper (-1 while unclaimed) and each keeper's claim list as a linked list. */
    private int[] keeper;
    private int[] head;
    private int[] tail;
    private int[] next;

    Run(Detection[] input, MatchMetric metric, double threshold) {
      this.input = input;
      this.metric = metric;
      this.threshold = threshold;
      this.n = input.length;
      long[] keys = new long[n];
      for (int i = 0; i < n; i++) {
        Detection d = Objects.requireNonNull(input[i], "detection");
        // high half: score descending; low half: input index ascending, so equal scores keep input order
        keys[i] = ((long) ~sortableBits(d.score()) << 32) | i;
      }
      Arrays.sort(keys);
      source = new int[n];
      x1 = new double[n];
      y1 = new double[n];
      x2 = new double[n];
      y2 = new double[n];
      area = new double[n];
      score = new float[n];
      for (int p = 0; p < n; p++) {
        int i = (int) keys[p];
        Detection d = input[i];
        source[p] = i;
        x1[p] = d.x1();
        y1[p] = d.y1();
        x2[p] = d.x2();
        y2[p] = d.y2();
        area[p] = Boxes.area(x1[p], y1[p], x2[p], y2[p]);
        score[p] = d.score();
      }
      kept = new Detection[n];
    }

    List<Detection> execute(MergeType type, boolean classAgnostic) {
      if (type == MergeType.NMM) {
        keeper = new int[n];
        head = new int[n];
        tail = new int[n];
        next = new int[n];
        Arrays.fill(keeper, -1);
      } else {
        taken = new boolean[n];
      }
      int[] members = new int[n];
      if (classAgnostic) {
        for (int p = 0; p < n; p++) {
          members[p] = p;
        }
        runGroup(type, members, 0, n);
      } else {
        // stable split by class: sorting (class, position) keeps score order inside each class
        long[] keys = new long[n];
        for (int p = 0; p < n; p++) {
          keys[p] = ((long) input[source[p]].classId() << 32) | p;
        }
        Arrays.sort(keys);
        for (int p = 0; p < n; p++) {
          members[p] = (int) keys[p];
        }
        int start = 0;
        for (int a = 1; a <= n; a++) {
          if (a == n || (int) (keys[a] >> 32) != (int) (keys[start] >> 32)) {
            runGroup(type, members, start, a);
            start = a;
          }
        }
      }
      List<Detection> out = new ArrayList<>();
      for (Detection d : kept) {
        if (d != null) {
          out.add(d);
        }
      }
      return Collections.unmodifiableList(out);
    }

    private void runGroup(MergeType type, int[] members, int from, int to) {
      switch (type) {
        case NMS -> nms(members, from, to);
        case GREEDYNMM -> greedyNmm(members, from, to);
        case NMM -> nmm(members, from, to);
        default -> throw new AssertionError(type);
      }
    }

    /** SAHI {@code nms}: the best remaining box is kept and suppresses every remaining box matching it. */
    private void nms(int[] members, int from, int to) {
      for (int a = from; a < to; a++) {
        int p = members[a];
        if (taken[p]) {
          continue;
        }
        kept[p] = input[source[p]];
        for (int b = a + 1; b < to; b++) {
          int q = members[b];
          if (!taken[q] && isCandidate(p, q)) {
            taken[q] = true;
          }
        }
      }
    }

    /**
     * SAHI {@code greedy_nmm} then {@code GreedyNMMPostprocess}: the best remaining box takes every remaining box
     * matching its <em>original</em> box (in score order), then merges each in that order if it still matches the
     * grown box. Listing and merging are interleaved here, which gives the same result: the list depends only on the
     * keeper's original box.
     */
    private void greedyNmm(int[] members, int from, int to) {
      Merged merged = new Merged();
      for (int a = from; a < to; a++) {
        int p = members[a];
        if (taken[p]) {
          continue;
        }
        merged.reset(p);
        for (int b = a + 1; b < to; b++) {
          int q = members[b];
          if (!taken[q] && isCandidate(p, q)) {
            taken[q] = true;
            merged.mergeIfMatches(q);
          }
        }
        kept[p] = merged.toDetection();
      }
    }

    /**
     * SAHI {@code nmm} then {@code NMMPostprocess}. In score order, a box not yet claimed becomes a keeper; every box
     * (keeper or claimed) then claims, for its keeper, each later unclaimed box matching it, so a chain A-B-C ends up
     * in A's list even when A and C do not overlap. Lists keep claim order: the keeper's own matches first, then those
     * brought by each claimed box as it is reached. Each listed box is then merged in that order if it matches the
     * grown box.
     */
    private void nmm(int[] members, int from, int to) {
      for (int a = from; a < to; a++) {
        int p = members[a];
        int k = keeper[p];
        if (k < 0) {
          k = p;
          keeper[p] = p;
          head[p] = -1;
          tail[p] = -1;
        }
        for (int b = a + 1; b < to; b++) {
          int q = members[b];
          if (keeper[q] < 0 && isCandidate(p, q)) {
            keeper[q] = k;
            next[q] = -1;
            if (tail[k] < 0) {
              head[k] = q;
            } else {
              next[tail[k]] = q;
            }
            tail[k] = q;
          }
        }
      }
      Merged merged = new Merged();
      for (int a = from; a < to; a++) {
        int p = members[a];
        if (keeper[p] != p) {
          continue;
        }
        merged.reset(p);
        for (int q = head[p]; q >= 0; q = next[q]) {
          merged.mergeIfMatches(q);
        }
        kept[p] = merged.toDetection();
      }
    }

    /** Candidate test of {@code nms}/{@code nmm}/{@code greedy_nmm}: overlap at or above the threshold. */
    private boolean isCandidate(int p, int q) {
      double inter = Boxes.intersection(x1[p], y1[p], x2[p], y2[p], x1[q], y1[q], x2[q], y2[q]);
      return Boxes.match(metric, inter, area[p], area[q]) >= threshold;
    }

    /** A keeper growing as boxes are merged into it, without allocating until the result is built. */
    private final class Merged {
      private int keeperPos;
      private boolean changed;
      private double mx1;
      private double my1;
      private double mx2;
      private double my2;
      private double marea;
      private float mscore;
      /** Position whose class the merged detection carries. */
      private int classFrom;

      void reset(int p) {
        keeperPos = p;
        changed = false;
        mx1 = x1[p];
        my1 = y1[p];
        mx2 = x2[p];
        my2 = y2[p];
        marea = area[p];
        mscore = score[p];
        classFrom = p;
      }

      /** SAHI {@code has_match} (strictly above the threshold) against the grown box, then the pair merge. */
      void mergeIfMatches(int q) {
        double inter = Boxes.intersection(mx1, my1, mx2, my2, x1[q], y1[q], x2[q], y2[q]);
        if (!(Boxes.match(metric, inter, marea, area[q]) > threshold)) {
          return;
        }
        // get_merged_category: the keeper's class only if its score is strictly higher, else the merged-in box's
        if (!(mscore > score[q])) {
          classFrom = q;
        }
        mscore = Math.max(mscore, score[q]);
        mx1 = Math.min(mx1, x1[q]);
        my1 = Math.min(my1, y1[q]);
        mx2 = Math.max(mx2, x2[q]);
        my2 = Math.max(my2, y2[q]);
        marea = Boxes.area(mx1, my1, mx2, my2);
        changed = true;
      }

      Detection toDetection() {
        Detection k = input[source[keeperPos]];
        Detection c = input[source[classFrom]];
        float fx1 = (float) mx1;
        float fy1 = (float) my1;
        float fx2 = (float) mx2;
        float fy2 = (float) my2;
        if (!changed || (k.x1() == fx1 && k.y1() == fy1 && k.x2() == fx2 && k.y2() == fy2 && k.score() == mscore
            && k.classId() == c.classId() && Objects.equals(k.className(), c.className()))) {
          return k; // nothing merged, or only boxes inside it: no new record
        }
        return new Detection(c.classId(), c.className(), mscore, fx1, fy1, fx2, fy2);
      }
    }
  }
}
