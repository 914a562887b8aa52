package io.osprey.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * COCO box evaluation exactly as pycocotools' {@code COCOeval} (iouType "bbox") defines it, in plain Java:
 * <ul>
 *   <li>IoU thresholds .50:.05:.95 (10), recall thresholds 0:.01:1 (101, the 101-point interpolation), area ranges
 *       all / small (&lt; 32²) / medium (32²..96²) / large (&gt; 96²), both ends inclusive as in pycocotools, and
 *       at most 1, 10 and 100 detections per image;</li>
 *   <li>per image and category, detections sorted by score (stable) and cut at 100, then greedily matched at each
 *       IoU threshold to the best still-free ground truth, non-ignored first; a crowd region can take any number of
 *       detections; a detection matched to an ignored ground truth (crowd, or outside the area range) is ignored,
 *       and so is an unmatched detection outside the area range;</li>
 *   <li>precision made monotone from the right, sampled at the recall thresholds ({@code searchsorted} left),
 *       0 beyond the highest recall; -1 where a category has no non-ignored ground truth, and -1 entries are left
 *       out of every mean.</li>
 * </ul>
 * The matching for AR@1 and AR@10 reuses the 100-detection matching, as pycocotools does.
 */
public final class CocoEval {
  /** IoU thresholds, as numpy's linspace(.5, .95, 10) computes them (index 0 = .50, index 5 = .75). */
  public static final double[] IOU_THRESHOLDS = new double[10];
  /** Recall thresholds, as numpy's linspace(0, 1, 101). */
  public static final double[] RECALL_THRESHOLDS = new double[101];
  public static final int[] MAX_DETS = {1, 10, 100};
  static final int IOU_50 = 0;
  static final int IOU_75 = 5;

  static {
    double step = (0.95 - 0.5) / 9;
    for (int i = 0; i < 10; i++) {
      IOU_THRESHOLDS[i] = i * step + 0.5;
    }
    IOU_THRESHOLDS[9] = 0.95;
    for (int i = 0; i < 101; i++) {
      RECALL_THRESHOLDS[i] = i * 0.01;
    }
    RECALL_THRESHOLDS[100] = 1.0;
  }

  /** pycocotools' area ranges, in its order. */
  public enum Area {
    ALL(0, 1e10), SMALL(0, 32 * 32), MEDIUM(32 * 32, 96 * 96), LARGE(96 * 96, 1e10);

    final double lo;
    final double hi;

    Area(double lo, double hi) {
      this.lo = lo;
      this.hi = hi;
    }

    boolean outside(double area) {
      return area < lo || area > hi;
    }
  }

  /** A detection in COCO's result form: box {@code [x, y, w, h]} in pixels; its area is w × h. */
  public record Detection(long imageId, long categoryId, double score, double x, double y, double width,
                          double height) {
    double area() {
      return width * height;
    }
  }

  private CocoEval() {
  }

  /** One (image, category, area range) of pycocotools' evalImgs. */
  private record ImageEval(double[] dtScores, boolean[][] dtMatched, boolean[][] dtIgnore, boolean[] gtIgnore,
                           boolean[][] gtMatched) {
  }

  /**
   * Evaluates {@code detections} against {@code truth}, over every image and category of the ground truth
   * (detections of other images or categories are not looked at, as in pycocotools).
   */
  public static Result evaluate(CocoDataset truth, List<Detection> detections) {
    long[] imgIds = truth.images().stream().mapToLong(CocoDataset.Image::id).distinct().sorted().toArray();
    long[] catIds = truth.categories().stream().mapToLong(CocoDataset.Category::id).distinct().sorted().toArray();
    Map<Long, Integer> imgIndex = index(imgIds);
    Map<Long, Integer> catIndex = index(catIds);
    int images = imgIds.length;
    int cats = catIds.length;
    List<List<CocoDataset.Annotation>> gts = new ArrayList<>();
    List<List<Detection>> dts = new ArrayList<>();
    for (int i = 0; i < images * cats; i++) {
      gts.add(new ArrayList<>());
      dts.add(new ArrayList<>());
    }
    for (CocoDataset.Annotation g : truth.annotations()) {
      Integer i = imgIndex.get(g.imageId());
      Integer k = catIndex.get(g.categoryId());
      if (i != null && k != null) {
        gts.get(k * images + i).add(g);
      }
    }
    for (Detection d : detections) {
      Integer i = imgIndex.get(d.imageId());
      Integer k = catIndex.get(d.categoryId());
      if (i != null && k != null) {
        dts.get(k * images + i).add(d);
      }
    }
    Area[] areas = Area.values();
    int maxDet = MAX_DETS[MAX_DETS.length - 1];
    // evalImgs[k][a][i], null where the image has neither ground truth nor detections of the category
    ImageEval[][][] evalImgs = new ImageEval[cats][areas.length][images];
    for (int k = 0; k < cats; k++) {
      for (int i = 0; i < images; i++) {
        List<CocoDataset.Annotation> gt = gts.get(k * images + i);
        List<Detection> dt = dts.get(k * images + i);
        if (gt.isEmpty() && dt.isEmpty()) {
          continue;
        }
        List<Detection> sorted = new ArrayList<>(dt);
        sorted.sort((a, b) -> b.score() > a.score() ? 1 : b.score() < a.score() ? -1 : 0); // stable, like mergesort
        if (sorted.size() > maxDet) {
          sorted = sorted.subList(0, maxDet);
        }
        double[][] ious = ious(sorted, gt);
        for (int a = 0; a < areas.length; a++) {
          evalImgs[k][a][i] = evaluateImage(gt, sorted, ious, areas[a]);
        }
      }
    }
    return accumulate(truth, catIds, evalImgs);
  }

  private static Map<Long, Integer> index(long[] ids) {
    Map<Long, Integer> m = new HashMap<>();
    for (int i = 0; i < ids.length; i++) {
      m.put(ids[i], i);
    }
    return m;
  }

  /** pycocotools' bbIou: continuous coordinates; for a crowd ground truth the union is the detection's area. */
  static double[][] ious(List<Detection> dt, List<CocoDataset.Annotation> gt) {
    double[][] o = new double[dt.size()][gt.size()];
    for (int g = 0; g < gt.size(); g++) {
      CocoDataset.Annotation gb = gt.get(g);
      double ga = gb.width() * gb.height();
      for (int d = 0; d < dt.size(); d++) {
        Detection db = dt.get(d);
        double da = db.width() * db.height();
        double w = Math.min(db.width() + db.x(), gb.width() + gb.x()) - Math.max(db.x(), gb.x());
        if (w <= 0) {
          continue;
        }
        double h = Math.min(db.height() + db.y(), gb.height() + gb.y()) - Math.max(db.y(), gb.y());
        if (h <= 0) {
          continue;
        }
        double i = w * h;
        double u = gb.crowd() ? da : da + ga - i;
        o[d][g] = i / u;
      }
    }
    return o;
  }

  /** pycocotools' evaluateImg for one area range; {@code dt} is already sorted by score and cut at 100. */
  private static ImageEval evaluateImage(List<CocoDataset.Annotation> gtIn, List<Detection> dt, double[][] iousIn,
                                         Area area) {
    int gCount = gtIn.size();
    // ignored ground truth (crowd, or outside the area range) goes last, keeping the order otherwise
    Integer[] order = new Integer[gCount];
    boolean[] ignoreIn = new boolean[gCount];
    for (int g = 0; g < gCount; g++) {
      order[g] = g;
      CocoDataset.Annotation a = gtIn.get(g);
      ignoreIn[g] = a.crowd() || area.outside(a.area());
    }
    Arrays.sort(order, (x, y) -> Boolean.compare(ignoreIn[x], ignoreIn[y]));
    boolean[] gtIg = new boolean[gCount];
    boolean[] crowd = new boolean[gCount];
    for (int g = 0; g < gCount; g++) {
      gtIg[g] = ignoreIn[order[g]];
      crowd[g] = gtIn.get(order[g]).crowd();
    }
    int t = IOU_THRESHOLDS.length;
    int d = dt.size();
    boolean[][] gtm = new boolean[t][gCount];
    boolean[][] dtm = new boolean[t][d];
    boolean[][] dtIg = new boolean[t][d];
    if (gCount > 0 && d > 0) {
      for (int ti = 0; ti < t; ti++) {
        for (int di = 0; di < d; di++) {
          double iou = Math.min(IOU_THRESHOLDS[ti], 1 - 1e-10);
          int m = -1;
          for (int gi = 0; gi < gCount; gi++) {
            if (gtm[ti][gi] && !crowd[gi]) {
              continue; // already taken, and not a crowd region
            }
            if (m > -1 && !gtIg[m] && gtIg[gi]) {
              break; // matched a regular object: ignored ones (sorted last) cannot take it
            }
            double v = iousIn[di][order[gi]];
            if (v < iou) {
              continue;
            }
            iou = v;
            m = gi;
          }
          if (m == -1) {
            continue;
          }
          dtIg[ti][di] = gtIg[m];
          dtm[ti][di] = true;
          gtm[ti][m] = true;
        }
      }
    }
    double[] scores = new double[d];
    for (int di = 0; di < d; di++) {
      Detection det = dt.get(di);
      scores[di] = det.score();
      boolean outside = area.outside(det.area());
      for (int ti = 0; ti < t; ti++) {
        dtIg[ti][di] = dtIg[ti][di] || (!dtm[ti][di] && outside);
      }
    }
    return new ImageEval(scores, dtm, dtIg, gtIg, gtm);
  }

  private static Result accumulate(CocoDataset truth, long[] catIds, ImageEval[][][] evalImgs) {
    int t = IOU_THRESHOLDS.length;
    int r = RECALL_THRESHOLDS.length;
    int k = catIds.length;
    int a = Area.values().length;
    int m = MAX_DETS.length;
    double[][][][][] precision = new double[t][r][k][a][m];
    double[][][][] recall = new double[t][k][a][m];
    for (double[][][][] x : precision) {
      for (double[][][] y : x) {
        for (double[][] z : y) {
          for (double[] w : z) {
            Arrays.fill(w, -1);
          }
        }
      }
    }
    for (double[][][] x : recall) {
      for (double[][] y : x) {
        for (double[] z : y) {
          Arrays.fill(z, -1);
        }
      }
    }
    int[][] truthCount = new int[k][a];
    int[][] found50 = new int[k][a];
    int[][] tp50 = new int[k][a];
    int[][] fp50 = new int[k][a];
    double eps = Math.ulp(1.0); // numpy's spacing(1)
    for (int ki = 0; ki < k; ki++) {
      for (int ai = 0; ai < a; ai++) {
        List<ImageEval> e = new ArrayList<>();
        for (ImageEval x : evalImgs[ki][ai]) {
          if (x != null) {
            e.add(x);
          }
        }
        if (e.isEmpty()) {
          continue;
        }
        int npig = 0;
        for (ImageEval x : e) {
          for (int g = 0; g < x.gtIgnore().length; g++) {
            if (!x.gtIgnore()[g]) {
              npig++;
              if (x.gtMatched()[IOU_50][g]) {
                found50[ki][ai]++;
              }
            }
          }
        }
        truthCount[ki][ai] = npig;
        for (int mi = 0; mi < m; mi++) {
          int maxDet = MAX_DETS[mi];
          List<double[]> rows = new ArrayList<>(); // score, image-local index, which image
          for (int xi = 0; xi < e.size(); xi++) {
            ImageEval x = e.get(xi);
            for (int di = 0; di < Math.min(maxDet, x.dtScores().length); di++) {
              rows.add(new double[] {x.dtScores()[di], di, xi});
            }
          }
          rows.sort((p, q) -> q[0] > p[0] ? 1 : q[0] < p[0] ? -1 : 0); // stable, like numpy's mergesort
          if (npig == 0) {
            continue;
          }
          int nd = rows.size();
          for (int ti = 0; ti < t; ti++) {
            double[] rc = new double[nd];
            double[] pr = new double[nd];
            int tp = 0;
            int fp = 0;
            for (int j = 0; j < nd; j++) {
              ImageEval x = e.get((int) rows.get(j)[2]);
              int di = (int) rows.get(j)[1];
              if (!x.dtIgnore()[ti][di]) {
                if (x.dtMatched()[ti][di]) {
                  tp++;
                } else {
                  fp++;
                }
              }
              rc[j] = (double) tp / npig;
              pr[j] = tp / (fp + tp + eps);
            }
            if (ti == IOU_50 && maxDet == MAX_DETS[m - 1]) {
              tp50[ki][ai] = tp;
              fp50[ki][ai] = fp;
            }
            recall[ti][ki][ai][mi] = nd > 0 ? rc[nd - 1] : 0;
            for (int j = nd - 1; j > 0; j--) {
              if (pr[j] > pr[j - 1]) {
                pr[j - 1] = pr[j];
              }
            }
            int j = 0;
            for (int ri = 0; ri < r; ri++) {
              while (j < nd && rc[j] < RECALL_THRESHOLDS[ri]) {
                j++;
              }
              if (j == nd) {
                // beyond the highest recall reached: pycocotools' IndexError leaves the rest at 0
                for (int rest = ri; rest < r; rest++) {
                  precision[ti][rest][ki][ai][mi] = 0;
                }
                break;
              }
              precision[ti][ri][ki][ai][mi] = pr[j];
            }
          }
        }
      }
    }
    return new Result(truth.categories(), catIds, precision, recall, truthCount, found50, tp50, fp50);
  }

  /** The accumulated arrays and their summaries. */
  public static final class Result {
    private final Map<Long, String> names = new LinkedHashMap<>();
    private final long[] catIds;
    private final double[][][][][] precision;
    private final double[][][][] recall;
    private final int[][] truthCount;
    private final int[][] found50;
    private final int[][] tp50;
    private final int[][] fp50;

    Result(List<CocoDataset.Category> categories, long[] catIds, double[][][][][] precision, double[][][][] recall,
           int[][] truthCount, int[][] found50, int[][] tp50, int[][] fp50) {
      TreeSet<Long> seen = new TreeSet<>();
      for (CocoDataset.Category c : categories) {
        if (seen.add(c.id())) {
          names.put(c.id(), c.name());
        }
      }
      this.catIds = catIds;
      this.precision = precision;
      this.recall = recall;
      this.truthCount = truthCount;
      this.found50 = found50;
      this.tp50 = tp50;
      this.fp50 = fp50;
    }

    /** Category ids in evaluation order (ascending). */
    public long[] categoryIds() {
      return catIds.clone();
    }

    public String name(long categoryId) {
      return names.get(categoryId);
    }

    /** pycocotools' twelve numbers over every category. */
    public Summary summary() {
      return summarize(-1);
    }

    /** The same twelve numbers for one category (-1 where it has no ground truth in the range). */
    public Summary summary(long categoryId) {
      for (int k = 0; k < catIds.length; k++) {
        if (catIds[k] == categoryId) {
          return summarize(k);
        }
      }
      throw new IllegalArgumentException("no category " + categoryId);
    }

    private Summary summarize(int onlyK) {
      Area all = Area.ALL;
      return new Summary(
          ap(onlyK, -1, all, 2), ap(onlyK, IOU_50, all, 2), ap(onlyK, IOU_75, all, 2),
          ap(onlyK, -1, Area.SMALL, 2), ap(onlyK, -1, Area.MEDIUM, 2), ap(onlyK, -1, Area.LARGE, 2),
          ar(onlyK, all, 0), ar(onlyK, all, 1), ar(onlyK, all, 2),
          ar(onlyK, Area.SMALL, 2), ar(onlyK, Area.MEDIUM, 2), ar(onlyK, Area.LARGE, 2),
          ap(onlyK, IOU_50, Area.SMALL, 2), ap(onlyK, IOU_50, Area.MEDIUM, 2), ap(onlyK, IOU_50, Area.LARGE, 2),
          counts(onlyK, Area.ALL), counts(onlyK, Area.SMALL), counts(onlyK, Area.MEDIUM), counts(onlyK, Area.LARGE));
    }

    private Counts counts(int onlyK, Area area) {
      int truth = 0;
      int found = 0;
      int tp = 0;
      int fp = 0;
      for (int k = 0; k < catIds.length; k++) {
        if (onlyK < 0 || k == onlyK) {
          truth += truthCount[k][area.ordinal()];
          found += found50[k][area.ordinal()];
          tp += tp50[k][area.ordinal()];
          fp += fp50[k][area.ordinal()];
        }
      }
      return new Counts(truth, found, tp, fp);
    }

    /** Mean of the precision entries above -1 (pycocotools' _summarize, ap=1); iou -1 = all thresholds. */
    private double ap(int onlyK, int iou, Area area, int maxDetIndex) {
      double sum = 0;
      long n = 0;
      for (int t = 0; t < IOU_THRESHOLDS.length; t++) {
        if (iou >= 0 && t != iou) {
          continue;
        }
        for (int r = 0; r < RECALL_THRESHOLDS.length; r++) {
          for (int k = 0; k < catIds.length; k++) {
            if (onlyK >= 0 && k != onlyK) {
              continue;
            }
            double v = precision[t][r][k][area.ordinal()][maxDetIndex];
            if (v > -1) {
              sum += v;
              n++;
            }
          }
        }
      }
      return n == 0 ? -1 : sum / n;
    }

    /** Mean of the recall entries above -1 over IoU thresholds and categories (pycocotools' _summarize, ap=0). */
    private double ar(int onlyK, Area area, int maxDetIndex) {
      double sum = 0;
      long n = 0;
      for (int t = 0; t < IOU_THRESHOLDS.length; t++) {
        for (int k = 0; k < catIds.length; k++) {
          if (onlyK >= 0 && k != onlyK) {
            continue;
          }
          double v = recall[t][k][area.ordinal()][maxDetIndex];
          if (v > -1) {
            sum += v;
            n++;
          }
        }
      }
      return n == 0 ? -1 : sum / n;
    }
  }

  /**
   * At IoU .50 and 100 detections per image, within one area range: ground-truth objects that count, how many of
   * them a detection matched, and the detections counted as true and false positives (ignored ones in neither).
   */
  public record Counts(int truth, int found, int truePositives, int falsePositives) {
  }

  /**
   * pycocotools' {@code stats}, in its order, then AP at IoU .50 per area range (read from the same precision array:
   * not among pycocotools' twelve, but what "AP50 on small objects" means), and the matching counts per area range.
   * Every value is in [0, 1], or -1 when there is no ground truth to measure it on.
   */
  public record Summary(double ap, double ap50, double ap75, double apSmall, double apMedium, double apLarge,
                        double ar1, double ar10, double ar100, double arSmall, double arMedium, double arLarge,
                        double ap50Small, double ap50Medium, double ap50Large,
                        Counts all, Counts small, Counts medium, Counts large) {
    /** pycocotools' twelve numbers under its names and in its order, then AP50s, AP50m, AP50l. */
    public Map<String, Double> metrics() {
      Map<String, Double> m = new LinkedHashMap<>();
      m.put("AP", ap);
      m.put("AP50", ap50);
      m.put("AP75", ap75);
      m.put("APs", apSmall);
      m.put("APm", apMedium);
      m.put("APl", apLarge);
      m.put("AR1", ar1);
      m.put("AR10", ar10);
      m.put("AR100", ar100);
      m.put("ARs", arSmall);
      m.put("ARm", arMedium);
      m.put("ARl", arLarge);
      m.put("AP50s", ap50Small);
      m.put("AP50m", ap50Medium);
      m.put("AP50l", ap50Large);
      return m;
    }

    public Map<String, Counts> counts() {
      Map<String, Counts> m = new LinkedHashMap<>();
      m.put("all", all);
      m.put("small", small);
      m.put("medium", medium);
      m.put("large", large);
      return m;
    }
  }
}
