package io.osprey.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.osprey.testing.UnitTest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Known answers for the COCO metrics, each worked out by hand below (pycocotools' COCOeval, bbox).
 *
 * <p>Reminders used throughout: at each of the 10 IoU thresholds, precision is made monotone from the right and read
 * at the 101 recall points r = 0, .01, ..., 1 (the first detection whose cumulative recall is >= r; 0 past the
 * highest recall). AP is the mean of those 10 × 101 numbers (× categories). A box matched with IoU 1 matches at every
 * threshold, so its 10 curves are the same and AP equals the area computed once. pycocotools divides by
 * tp + fp + 2^-52, so "1" is really 1/(1 + 2^-52) = 1 - 2.2e-16 for a single hit; the tolerance 1e-12 covers that.
 */
@UnitTest
class CocoEvalTest {
  private static final double EPS = 1e-12;

  /** A ground truth built in a few lines: images 1..n, categories by id, boxes [x, y, w, h]. */
  private static final class Truth {
    final List<CocoDataset.Image> images = new ArrayList<>();
    final List<CocoDataset.Category> categories = new ArrayList<>();
    final List<CocoDataset.Annotation> annotations = new ArrayList<>();

    Truth images(int n) {
      for (int i = 1; i <= n; i++) {
        images.add(new CocoDataset.Image(i, "img" + i + ".jpg", 1000, 1000));
      }
      return this;
    }

    Truth category(long id, String name) {
      categories.add(new CocoDataset.Category(id, name));
      return this;
    }

    Truth box(long image, long category, double x, double y, double w, double h) {
      return box(image, category, x, y, w, h, false);
    }

    Truth box(long image, long category, double x, double y, double w, double h, boolean crowd) {
      annotations.add(new CocoDataset.Annotation(annotations.size() + 1, image, category, x, y, w, h, w * h, crowd));
      return this;
    }

    CocoDataset dataset() {
      return new CocoDataset(images, categories, annotations);
    }
  }

  private static CocoEval.Detection det(long image, long category, double score, double x, double y, double w,
                                        double h) {
    return new CocoEval.Detection(image, category, score, x, y, w, h);
  }

  @Test
  void perfectDetectionsScoreOneEverywhereThereIsGroundTruth() {
    // Two images, two classes, a small (10x10 = 100), a medium (50x50 = 2500) and a large (200x200) object, each
    // found exactly once. Every curve is precision 1 up to recall 1: AP = AP50 = AP75 = 1, AR = 1 at any maxDets
    // (one object per image and class, so even AR@1 = 1). No object is small in class 2 etc., but each area range
    // has some class with objects, so APs/APm/APl are all 1.
    Truth t = new Truth().images(2).category(1, "a").category(2, "b")
        .box(1, 1, 10, 10, 10, 10).box(1, 2, 100, 100, 50, 50).box(2, 1, 300, 300, 200, 200);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(
        det(1, 1, 0.9, 10, 10, 10, 10), det(1, 2, 0.8, 100, 100, 50, 50), det(2, 1, 0.7, 300, 300, 200, 200)))
        .summary();
    for (var e : s.metrics().entrySet()) {
      assertEquals(1.0, e.getValue(), EPS, e.getKey());
    }
    assertEquals(new CocoEval.Counts(3, 3, 3, 0), s.all());
  }

  @Test
  void oneClassHalfFoundScores51Of101AndAveragesWithThePerfectClass() {
    // Class a: two objects in image 1, one found (IoU 1). Cumulative recall [0.5], precision [1]. Recall points
    // r = 0 .. 0.50 (51 of them; 50 * 0.01 == 0.5 exactly in doubles) read 1, r = 0.51 .. 1 (50) read 0:
    // AP(a) = 51/101 = 0.50495..., AR(a) = 0.5.
    // Class b: one object, found: AP(b) = 1, AR(b) = 1.
    // Overall: AP = (51/101 + 1) / 2 = 152/202 = 0.75247...; AR100 = (0.5 + 1) / 2 = 0.75.
    Truth t = new Truth().images(1).category(1, "a").category(2, "b")
        .box(1, 1, 0, 0, 100, 100).box(1, 1, 200, 0, 100, 100).box(1, 2, 400, 0, 100, 100);
    CocoEval.Result r = CocoEval.evaluate(t.dataset(), List.of(
        det(1, 1, 0.9, 0, 0, 100, 100), det(1, 2, 0.8, 400, 0, 100, 100)));
    assertEquals(51.0 / 101, r.summary(1).ap(), EPS);
    assertEquals(0.5, r.summary(1).ar100(), EPS);
    assertEquals(1.0, r.summary(2).ap(), EPS);
    assertEquals(152.0 / 202, r.summary().ap(), EPS);
    assertEquals(152.0 / 202, r.summary().ap50(), EPS);
    assertEquals(0.75, r.summary().ar100(), EPS);
    assertEquals(new CocoEval.Counts(2, 1, 1, 0), r.summary(1).all());
  }

  @Test
  void aSecondDetectionOfTheSameObjectIsAFalsePositive() {
    // Two objects. Object 1 is detected twice (0.9 and 0.8, both IoU 1), object 2 once (0.7).
    // In score order: TP, FP (its object is taken), TP. tp = [1, 1, 2], fp = [0, 1, 1].
    // recall = [.5, .5, 1], precision = [1, 1/2, 2/3]; monotone from the right: [1, 2/3, 2/3].
    // r = 0 .. .50 (51 points) -> first index with recall >= r is 0 -> 1; r = .51 .. 1 (50 points) -> index 2 -> 2/3.
    // AP = (51 * 1 + 50 * 2/3) / 101 = (153 + 100) / 303 = 253/303 = 0.83498...; AR = 1.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100).box(1, 1, 200, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(
        det(1, 1, 0.9, 0, 0, 100, 100), det(1, 1, 0.8, 0, 0, 100, 100), det(1, 1, 0.7, 200, 0, 100, 100)))
        .summary();
    assertEquals(253.0 / 303, s.ap(), EPS);
    assertEquals(1.0, s.ar100(), EPS);
    assertEquals(new CocoEval.Counts(2, 2, 2, 1), s.all());
  }

  @Test
  void aLowerScoredDuplicateAfterEveryHitDoesNotLowerAp() {
    // One object, detected at 0.9 and again at 0.8: tp = [1, 1], fp = [0, 1], recall = [1, 1], precision [1, .5]
    // -> monotone [1, .5]; every recall point r <= 1 reads index 0 -> 1. AP = 1, yet the duplicate is counted as a
    // false positive.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(
        det(1, 1, 0.9, 0, 0, 100, 100), det(1, 1, 0.8, 0, 0, 100, 100))).summary();
    assertEquals(1.0, s.ap(), EPS);
    assertEquals(1, s.all().falsePositives());
  }

  @Test
  void detectionsInsideACrowdRegionAreIgnoredNotFalsePositives() {
    // A crowd region 100x100 at (0,0) and a regular 40x40 object at (200,200).
    // Detections 0.95 and 0.9 lie inside the crowd (10x10 boxes): their IoU with a crowd is intersection over the
    // detection's own area = 1, so both match it (a crowd takes any number) and are ignored. 0.8 finds the object.
    // Counted sequence: ignored, ignored, TP: tp = [0, 0, 1], fp = [0, 0, 0]; recall = [0, 0, 1],
    // precision = [0, 0, 1] -> monotone [1, 1, 1]; r = 0 reads index 0 -> 1, r > 0 reads index 2 -> 1. AP = 1.
    Truth crowd = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100, true).box(1, 1, 200, 200, 40, 40);
    List<CocoEval.Detection> dets = List.of(det(1, 1, 0.95, 10, 10, 10, 10), det(1, 1, 0.9, 50, 50, 10, 10),
        det(1, 1, 0.8, 200, 200, 40, 40));
    CocoEval.Summary s = CocoEval.evaluate(crowd.dataset(), dets).summary();
    assertEquals(1.0, s.ap(), EPS);
    assertEquals(1.0, s.ar100(), EPS);
    assertEquals(new CocoEval.Counts(1, 1, 1, 0), s.all());

    // The same region as a regular object: it must now be found, and the small boxes inside it overlap it with
    // IoU 100 / 10000 = .01, so they are false positives. npig = 2; sequence FP, FP, TP: tp = [0, 0, 1],
    // fp = [1, 2, 2]; recall = [0, 0, .5], precision = [0, 0, 1/3] -> monotone [1/3, 1/3, 1/3].
    // r = 0 -> index 0 -> 1/3; r = .01 .. .50 (50 points) -> index 2 -> 1/3; r > .5 -> 0.
    // AP = 51 * (1/3) / 101 = 17/101 = 0.16831...; AR = .5.
    Truth plain = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100).box(1, 1, 200, 200, 40, 40);
    CocoEval.Summary p = CocoEval.evaluate(plain.dataset(), dets).summary();
    assertEquals(17.0 / 101, p.ap(), EPS);
    assertEquals(0.5, p.ar100(), EPS);
  }

  @Test
  void areaRangesIgnoreObjectsAndUnmatchedDetectionsOutsideThem() {
    // Objects: small 10x10 (100) and large 200x200 (40000); both found (0.9 small, 0.8 large); one more
    // detection 10x10 at 0.95 on nothing.
    // all:    sequence FP(.95) TP(.9) TP(.8): tp [0,1,2], fp [1,1,1], recall [0,.5,1], precision [0,.5,2/3]
    //         -> monotone [2/3, 2/3, 2/3]; every r reads 2/3. AP = 2/3.
    // small:  the large object is ignored, and so is the detection matched to it; the stray detection is small, so
    //         it counts: FP TP (ignored): recall [0, 1, 1], precision [0, .5, .5] -> [.5, .5, .5]. APs = .5.
    // medium: no object in range -> -1 (and left out of any mean).
    // large:  the small object is ignored, with its detection; the stray detection is small and unmatched, outside
    //         the range, so ignored: only the TP counts. APl = 1.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 10, 10).box(1, 1, 300, 300, 200, 200);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.95, 700, 700, 10, 10),
        det(1, 1, 0.9, 0, 0, 10, 10), det(1, 1, 0.8, 300, 300, 200, 200))).summary();
    assertEquals(2.0 / 3, s.ap(), EPS);
    assertEquals(0.5, s.apSmall(), EPS);
    assertEquals(-1.0, s.apMedium(), 0);
    assertEquals(1.0, s.apLarge(), EPS);
    assertEquals(1.0, s.arSmall(), EPS);
    assertEquals(-1.0, s.arMedium(), 0);
    // At IoU .5 alone the same sequences hold (every hit has IoU 1): AP50s = .5, AP50m = -1, AP50l = 1.
    assertEquals(0.5, s.ap50Small(), EPS);
    assertEquals(-1.0, s.ap50Medium(), 0);
    assertEquals(1.0, s.ap50Large(), EPS);
    assertEquals(new CocoEval.Counts(1, 1, 1, 1), s.small());
    assertEquals(new CocoEval.Counts(1, 1, 1, 0), s.large());
  }

  @Test
  void anObjectOfExactly32SquaredIsBothSmallAndMedium() {
    // pycocotools' ranges are inclusive at both ends: area 1024 is outside neither [0, 1024] nor [1024, 9216].
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 32, 32);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.9, 0, 0, 32, 32))).summary();
    assertEquals(1.0, s.apSmall(), EPS);
    assertEquals(1.0, s.apMedium(), EPS);
    assertEquals(-1.0, s.apLarge(), 0);
  }

  @Test
  void scoreOrderDecidesApForTheSameBoxes() {
    // Two objects, two hits and one miss (a box on nothing). Only the scores change between the three cases.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100).box(1, 1, 200, 0, 100, 100);
    // hits first (.9, .8), miss last (.7): precision 1 up to recall 1 -> AP = 1.
    assertEquals(1.0, ap(t, 0.9, 0.8, 0.7), EPS);
    // miss first (.9), then hits: recall [0, .5, 1], precision [0, .5, 2/3] -> [2/3, 2/3, 2/3] -> AP = 2/3.
    assertEquals(2.0 / 3, ap(t, 0.8, 0.7, 0.9), EPS);
    // hit, miss, hit: recall [.5, .5, 1], precision [1, .5, 2/3] -> [1, 2/3, 2/3]; 51 points of 1, 50 of 2/3:
    // AP = 253/303 (as in the duplicate case).
    assertEquals(253.0 / 303, ap(t, 0.9, 0.7, 0.8), EPS);
  }

  private static double ap(Truth t, double hit1, double hit2, double miss) {
    return CocoEval.evaluate(t.dataset(), List.of(det(1, 1, hit1, 0, 0, 100, 100), det(1, 1, hit2, 200, 0, 100, 100),
        det(1, 1, miss, 600, 600, 50, 50))).summary().ap();
  }

  @Test
  void noDetectionsScoreZero() {
    // Ground truth but nothing detected: recall 0, every recall point past the (empty) curve reads 0.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of()).summary();
    assertEquals(0.0, s.ap(), 0);
    assertEquals(0.0, s.ap50(), 0);
    assertEquals(0.0, s.ar100(), 0);
    assertEquals(-1.0, s.apSmall(), 0);
    assertEquals(0.0, s.apLarge(), 0);
  }

  @Test
  void aClassWithoutGroundTruthIsMinusOneAndLeftOutOfTheMean() {
    // Class a: one object found -> AP 1. Class b: no ground truth at all, one (false) detection: -1, and the
    // overall AP is the mean over class a alone = 1, not (1 + 0) / 2.
    Truth t = new Truth().images(1).category(1, "a").category(2, "b").box(1, 1, 0, 0, 100, 100);
    CocoEval.Result r = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.9, 0, 0, 100, 100),
        det(1, 2, 0.95, 500, 500, 100, 100)));
    assertEquals(-1.0, r.summary(2).ap(), 0);
    assertEquals(-1.0, r.summary(2).ar100(), 0);
    assertEquals(1.0, r.summary().ap(), EPS);
    assertEquals(1.0, r.summary().ar100(), EPS);
  }

  @Test
  void iouThresholdsCountAHalfGoodBoxAtFiveOfTen() {
    // Object [0,0,100,100]; detection [0,0,100,72]: intersection 7200, union 10000, IoU .72. It matches at
    // .50 .55 .60 .65 .70 (AP 1 each) and not at .75 .. .95 (AP 0 each): AP = 5/10 = .5, AP50 = 1, AP75 = 0,
    // AR = .5.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.9, 0, 0, 100, 72))).summary();
    assertEquals(0.5, s.ap(), EPS);
    assertEquals(1.0, s.ap50(), EPS);
    assertEquals(0.0, s.ap75(), EPS);
    assertEquals(0.5, s.ar100(), EPS);
    assertEquals(1.0, s.ap50Large(), EPS); // 10000 px² is large
  }

  @Test
  void maxDetsCutsEachImagesDetectionsByScore() {
    // One image, two objects, both found (.9, .8). AR@1 keeps only the .9 detection: recall .5. AR@10 = AR@100 = 1.
    Truth t = new Truth().images(1).category(1, "a").box(1, 1, 0, 0, 100, 100).box(1, 1, 200, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.8, 200, 0, 100, 100),
        det(1, 1, 0.9, 0, 0, 100, 100))).summary();
    assertEquals(0.5, s.ar1(), EPS);
    assertEquals(1.0, s.ar10(), EPS);
    assertEquals(1.0, s.ar100(), EPS);
  }

  @Test
  void detectionsAreRankedAcrossImagesBeforeTheCurveIsDrawn() {
    // Image 1: object found at .6. Image 2: object found at .9 and a miss at .8. Across images, by score:
    // TP(.9, img 2), FP(.8, img 2), TP(.6, img 1): recall [.5, .5, 1], precision [1, .5, 2/3] -> [1, 2/3, 2/3]:
    // AP = 253/303, the same as if the three were in one image.
    Truth t = new Truth().images(2).category(1, "a").box(1, 1, 0, 0, 100, 100).box(2, 1, 0, 0, 100, 100);
    CocoEval.Summary s = CocoEval.evaluate(t.dataset(), List.of(det(1, 1, 0.6, 0, 0, 100, 100),
        det(2, 1, 0.9, 0, 0, 100, 100), det(2, 1, 0.8, 500, 500, 100, 100))).summary();
    assertEquals(253.0 / 303, s.ap(), EPS);
  }

  @Test
  void areaSourceAutoKeepsAPlausibleFieldAndReplacesAnImpossibleOne() {
    // A mask's area never exceeds its box: 2795520 on a 153x182 box (27846) is the whole image's area (SAHI's
    // files), so AUTO uses the box; a field of 20000 on the same box is kept; FIELD always keeps the field.
    assertEquals(27846.0, CocoDataset.AreaSource.AUTO.area(2795520.0, 153, 182), 0);
    assertEquals(20000.0, CocoDataset.AreaSource.AUTO.area(20000.0, 153, 182), 0);
    assertEquals(27846.0, CocoDataset.AreaSource.AUTO.area(null, 153, 182), 0);
    assertEquals(2795520.0, CocoDataset.AreaSource.FIELD.area(2795520.0, 153, 182), 0);
    assertEquals(27846.0, CocoDataset.AreaSource.BBOX.area(2795520.0, 153, 182), 0);
  }
}
