package io.osprey.inference;

import static io.osprey.inference.MatchMetric.IOS;
import static io.osprey.inference.MatchMetric.IOU;
import static io.osprey.inference.MergeType.GREEDYNMM;
import static io.osprey.inference.MergeType.NMM;
import static io.osprey.inference.MergeType.NMS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Expected results are what SAHI's NMSPostprocess / NMMPostprocess / GreedyNMMPostprocess return for the same
 * predictions, worked through by hand from {@code nms}, {@code nmm}, {@code greedy_nmm} (candidates at
 * {@code metric >= threshold}) and {@code has_match} (merge at {@code metric > threshold} against the grown box).
 */
@UnitTest
class MergingTest {

  private static Detection car(float score, float x1, float y1, float x2, float y2) {
    return new Detection(0, "car", score, x1, y1, x2, y2);
  }

  private static Detection truck(float score, float x1, float y1, float x2, float y2) {
    return new Detection(1, "truck", score, x1, y1, x2, y2);
  }

  private static List<Detection> classWise(List<Detection> in, MergeType type, MatchMetric metric, double t) {
    return Merging.merge(in, type, metric, t, false);
  }

  // ---- an object cut by a tile edge: each tile sees part of it ----

  /** Left tile sees x 70-110, right tile x 80-130: intersection 30x36 = 1080, areas 1600 and 1800. */
  private static final List<Detection> SPLIT = List.of(car(0.9f, 70, 10, 110, 50), car(0.7f, 80, 12, 130, 48));

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void tileSplitObjectIsNotCombinedUnderIou(MergeType type) {
    // IoU = 1080 / (1600 + 1800 - 1080) = 0.466 < 0.5: the two parts stay two detections, whatever the strategy
    assertEquals(SPLIT, classWise(SPLIT, type, IOU, 0.5));
  }

  @Test
  void tileSplitObjectIsMergedIntoOneBoxUnderIos() {
    // IoS = 1080 / 1600 = 0.675 > 0.5: SAHI gives [[70, 10, 130, 50], 0.9] for NMM and GREEDYNMM
    Detection whole = car(0.9f, 70, 10, 130, 50);
    assertEquals(List.of(whole), classWise(SPLIT, GREEDYNMM, IOS, 0.5));
    assertEquals(List.of(whole), classWise(SPLIT, NMM, IOS, 0.5));
  }

  @Test
  void tileSplitObjectKeepsOnlyTheBestPartUnderIosNms() {
    assertEquals(List.of(SPLIT.get(0)), classWise(SPLIT, NMS, IOS, 0.5));
  }

  // ---- a chain A-B-C: A overlaps B, B overlaps C, A and C only touch ----

  private static final Detection A = car(0.9f, 0, 0, 10, 10);
  private static final Detection B = car(0.8f, 5, 0, 15, 10);
  private static final Detection C = car(0.7f, 10, 0, 20, 10);
  private static final List<Detection> CHAIN = List.of(A, B, C);

  @Test
  void chainUnderNmsKeepsTheEndsOfTheChain() {
    // IoU(A, B) = 50 / 150 = 0.33 >= 0.3 suppresses B; IoU(A, C) = 0 leaves C
    assertEquals(List.of(A, C), classWise(CHAIN, NMS, IOU, 0.3));
    // IoS(A, B) = 0.5: same picture
    assertEquals(List.of(A, C), classWise(CHAIN, NMS, IOS, 0.3));
  }

  @Test
  void chainUnderGreedyNmmMergesOnlyWhatTouchesTheBestBox() {
    // greedy_nmm: A takes B only; C, not matching A, is a keeper of its own: SAHI [[0,0,15,10], [10,0,20,10]]
    List<Detection> expected = List.of(car(0.9f, 0, 0, 15, 10), C);
    assertEquals(expected, classWise(CHAIN, GREEDYNMM, IOU, 0.3));
    assertEquals(expected, classWise(CHAIN, GREEDYNMM, IOS, 0.3));
  }

  @Test
  void chainUnderNmmPullsTheWholeChainIntoTheBestBoxUnderIos() {
    // nmm: A takes B, B brings C into A's list. A+B = [0,0,15,10]; IoS with C = 50 / min(150, 100) = 0.5 > 0.3,
    // so SAHI merges all three: [[0, 0, 20, 10], 0.9]
    assertEquals(List.of(car(0.9f, 0, 0, 20, 10)), classWise(CHAIN, NMM, IOS, 0.3));
  }

  @Test
  void chainUnderNmmDropsTheTailWhenTheGrownBoxNoLongerMatchesUnderIou() {
    // same lists, but IoU(A+B, C) = 50 / (150 + 100 - 50) = 0.25 is not > 0.3: SAHI's NMMPostprocess neither merges
    // C nor keeps it, so C is lost ([[0, 0, 15, 10]] only) where GREEDYNMM kept it
    assertEquals(List.of(car(0.9f, 0, 0, 15, 10)), classWise(CHAIN, NMM, IOU, 0.3));
  }

  // ---- two boxes each matching the best one, but not the box it grows into ----

  /** B and C each overlap A by 60 (IoU 60 / 140 = 0.43, IoS 0.6). */
  private static final List<Detection> FAN = List.of(
      car(0.9f, 0, 0, 10, 10), car(0.8f, 4, 0, 14, 10), car(0.7f, 0, 4, 10, 14));

  @Test
  void listedBoxThatNoLongerMatchesTheGrownBoxIsDroppedUnderIou() {
    // both B and C are listed for A (0.43 >= 0.4); after B, A+B = [0,0,14,10] and IoU(A+B, C) = 60 / 180 = 0.33,
    // not > 0.4: C vanishes. SAHI: [[0, 0, 14, 10], 0.9] for GREEDYNMM and NMM alike
    assertEquals(List.of(car(0.9f, 0, 0, 14, 10)), classWise(FAN, GREEDYNMM, IOU, 0.4));
    assertEquals(List.of(car(0.9f, 0, 0, 14, 10)), classWise(FAN, NMM, IOU, 0.4));
  }

  @Test
  void growingBoxKeepsMatchingUnderIos() {
    // IoS(A+B, C) = 60 / min(140, 100) = 0.6 > 0.4: SAHI merges all three into [0, 0, 14, 14]
    assertEquals(List.of(car(0.9f, 0, 0, 14, 14)), classWise(FAN, GREEDYNMM, IOS, 0.4));
    assertEquals(List.of(car(0.9f, 0, 0, 14, 14)), classWise(FAN, NMM, IOS, 0.4));
    assertEquals(List.of(FAN.get(0)), classWise(FAN, NMS, IOS, 0.4));
  }

  // ---- exactly at the threshold ----

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void overlapExactlyAtTheThresholdSuppressesButDoesNotMerge(MergeType type) {
    // IoS(A, B) = 50 / 100 = 0.5 exactly. nms/greedy_nmm/nmm take B as a candidate (0.5 >= 0.5), has_match refuses
    // it (0.5 > 0.5 is false): NMS drops B, and NMM/GREEDYNMM drop it too, unmerged. SAHI: [[0, 0, 10, 10], 0.9]
    List<Detection> pair = List.of(A, B);
    List<Detection> out = classWise(pair, type, IOS, 0.5);
    assertEquals(List.of(A), out);
    assertSame(A, out.get(0), "a keeper nothing merged into comes back as the same instance");
  }

  @Test
  void overlapJustAboveTheThresholdMergesAndJustBelowKeepsBoth() {
    List<Detection> pair = List.of(A, B);
    assertEquals(List.of(car(0.9f, 0, 0, 15, 10)), classWise(pair, GREEDYNMM, IOS, 0.4999));
    assertEquals(List.of(car(0.9f, 0, 0, 15, 10)), classWise(pair, NMM, IOS, 0.4999));
    assertEquals(List.of(A), classWise(pair, NMS, IOS, 0.4999));
    for (MergeType type : MergeType.values()) {
      assertEquals(pair, classWise(pair, type, IOS, 0.5001), type.name());
    }
  }

  @Test
  void iouExactlyAtTheThresholdBehavesTheSame() {
    // [0,0,10,10] inside [0,0,10,20]: IoU = 100 / 200 = 0.5
    Detection tall = car(0.8f, 0, 0, 10, 20);
    List<Detection> pair = List.of(A, tall);
    for (MergeType type : MergeType.values()) {
      assertEquals(List.of(A), classWise(pair, type, IOU, 0.5), type.name());
    }
    assertEquals(List.of(car(0.9f, 0, 0, 10, 20)), classWise(pair, GREEDYNMM, IOU, 0.4999));
  }

  // ---- classes ----

  /** IoU 81 / 119 = 0.68 between a car and a truck. */
  private static final List<Detection> CAR_AND_TRUCK = List.of(
      car(0.9f, 0, 0, 10, 10), truck(0.8f, 1, 1, 11, 11));

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void differentClassesAreNotCombinedByDefault(MergeType type) {
    assertEquals(CAR_AND_TRUCK, classWise(CAR_AND_TRUCK, type, IOU, 0.5));
  }

  @Test
  void classAgnosticCombinesAcrossClassesKeepingTheBetterScoresClass() {
    assertEquals(List.of(CAR_AND_TRUCK.get(0)), Merging.merge(CAR_AND_TRUCK, NMS, IOU, 0.5, true));
    assertEquals(List.of(car(0.9f, 0, 0, 11, 11)), Merging.merge(CAR_AND_TRUCK, GREEDYNMM, IOU, 0.5, true));
    assertEquals(List.of(car(0.9f, 0, 0, 11, 11)), Merging.merge(CAR_AND_TRUCK, NMM, IOU, 0.5, true));
  }

  @Test
  void mergedClassComesFromTheMergedInBoxWhenScoresTie() {
    // get_merged_category keeps the keeper's class only for a strictly higher score: SAHI gives
    // [[0, 0, 11, 11], 0.8, truck] though the car comes first and is the keeper
    List<Detection> tie = List.of(car(0.8f, 0, 0, 10, 10), truck(0.8f, 1, 1, 11, 11));
    assertEquals(List.of(truck(0.8f, 0, 0, 11, 11)), Merging.merge(tie, GREEDYNMM, IOU, 0.5, true));
    assertEquals(List.of(truck(0.8f, 0, 0, 11, 11)), Merging.merge(tie, NMM, IOU, 0.5, true));
    assertEquals(List.of(tie.get(0)), Merging.merge(tie, NMS, IOU, 0.5, true));
  }

  @Test
  void classWiseMergingStillMergesWithinEachClass() {
    List<Detection> in = List.of(car(0.9f, 0, 0, 10, 10), truck(0.85f, 0, 0, 10, 10),
        car(0.6f, 2, 0, 12, 10), truck(0.5f, 0, 2, 10, 12));
    // each class merges its own pair (IoU 80 / 120 = 0.67); results interleave by score
    assertEquals(List.of(car(0.9f, 0, 0, 12, 10), truck(0.85f, 0, 0, 10, 12)),
        classWise(in, GREEDYNMM, IOU, 0.5));
  }

  // ---- order, empties, inputs ----

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void emptyInputGivesEmptyOutput(MergeType type) {
    assertEquals(List.of(), classWise(List.of(), type, IOS, 0.5));
    assertEquals(List.of(), Merging.merge(List.of(), type, IOU, 0.5, true));
  }

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void outputIsByScoreDescendingThenInputOrder(MergeType type) {
    Detection first = car(0.5f, 0, 0, 10, 10);
    Detection best = truck(0.9f, 100, 0, 110, 10);
    Detection third = car(0.5f, 200, 0, 210, 10);
    Detection low = truck(0.1f, 300, 0, 310, 10);
    List<Detection> out = classWise(List.of(low, first, best, third), type, IOU, 0.5);
    assertEquals(List.of(best, first, third, low), out);
  }

  @Test
  void equalScoresKeepTheEarlierDetection() {
    Detection earlier = car(0.7f, 0, 0, 10, 10);
    Detection later = car(0.7f, 1, 0, 11, 10);
    assertEquals(List.of(earlier), classWise(List.of(earlier, later), NMS, IOU, 0.5));
    assertEquals(List.of(later), classWise(List.of(later, earlier), NMS, IOU, 0.5));
  }

  @ParameterizedTest
  @EnumSource(MergeType.class)
  void keeperThatAbsorbsOnlyBoxesInsideItIsReturnedAsTheSameInstance(MergeType type) {
    Detection outer = car(0.9f, 0, 0, 10, 10);
    Detection inner = car(0.6f, 1, 1, 9, 9);
    List<Detection> out = classWise(List.of(inner, outer), type, IOS, 0.5);
    assertEquals(1, out.size());
    assertSame(outer, out.get(0));
  }

  @Test
  void inputListIsNotModified() {
    List<Detection> in = new ArrayList<>(List.of(C, A, B));
    List<Detection> copy = List.copyOf(in);
    for (MergeType type : MergeType.values()) {
      Merging.merge(in, type, IOS, 0.3, false);
      Merging.merge(Collections.unmodifiableList(in), type, IOU, 0.3, true);
    }
    assertEquals(copy, in);
  }

  @Test
  void resultIsUnmodifiable() {
    List<Detection> out = classWise(CHAIN, GREEDYNMM, IOS, 0.3);
    assertThrows(UnsupportedOperationException.class, () -> out.add(A));
  }

  @Test
  void badArgumentsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> Merging.merge(CHAIN, NMS, IOU, Double.NaN, false));
    assertThrows(NullPointerException.class, () -> Merging.merge(null, NMS, IOU, 0.5, false));
    assertThrows(NullPointerException.class, () -> Merging.merge(CHAIN, null, IOU, 0.5, false));
    assertThrows(NullPointerException.class, () -> Merging.merge(CHAIN, NMS, null, 0.5, false));
    List<Detection> withNull = new ArrayList<>(CHAIN);
    withNull.add(null);
    assertThrows(NullPointerException.class, () -> Merging.merge(withNull, NMS, IOU, 0.5, false));
  }

  @Test
  void zeroAreaDetectionsNeverMatchAnything() {
    Detection line = car(0.95f, 5, 0, 5, 10);
    List<Detection> in = List.of(line, A);
    for (MergeType type : MergeType.values()) {
      assertEquals(List.of(line, A), classWise(in, type, IOS, 0.5), type.name());
      assertEquals(List.of(line, A), classWise(in, type, IOU, 0.5), type.name());
    }
  }

  @Test
  void parseIsCaseInsensitiveAndListsAllowedValues() {
    assertEquals(GREEDYNMM, MergeType.parse("greedyNmm"));
    assertEquals(NMS, MergeType.parse("NMS"));
    assertEquals(IOS, MatchMetric.parse("ios"));
    assertEquals(IOU, MatchMetric.parse("IoU"));
    IllegalArgumentException type = assertThrows(IllegalArgumentException.class, () -> MergeType.parse("lsnms"));
    assertTrue(type.getMessage().contains("NMS, NMM, GREEDYNMM"), type.getMessage());
    IllegalArgumentException metric = assertThrows(IllegalArgumentException.class, () -> MatchMetric.parse("dice"));
    assertTrue(metric.getMessage().contains("IOU, IOS"), metric.getMessage());
    assertThrows(IllegalArgumentException.class, () -> MatchMetric.parse(null));
    assertThrows(IllegalArgumentException.class, () -> MergeType.parse(null));
  }

  // ---- many boxes ----

  /** {@code n} boxes of 4-64 px over a 3000 px square, with distinct scores so a result's keeper can be found. */
  private static List<Detection> randomScene(long seed, int n, int classes) {
    Random random = new Random(seed);
    List<Float> scores = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      scores.add((float) (i + 1) / (n + 1));
    }
    Collections.shuffle(scores, random);
    List<Detection> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      float x = random.nextFloat() * 3000;
      float y = random.nextFloat() * 3000;
      float w = 4 + random.nextFloat() * 60;
      float h = 4 + random.nextFloat() * 60;
      int cls = random.nextInt(classes);
      out.add(new Detection(cls, "c" + cls, scores.get(i), x, y, x + w, y + h));
    }
    return out;
  }

  @Test
  void tenThousandBoxesUnderNmsLeaveNoSameClassPairAtOrAboveTheThreshold() {
    List<Detection> in = randomScene(7, 10_000, 4);
    for (MatchMetric metric : MatchMetric.values()) {
      List<Detection> out = classWise(in, NMS, metric, 0.5);
      assertTrue(out.size() < in.size() && !out.isEmpty(), "some, not all, suppressed: " + out.size());
      assertSortedByScore(out);
      for (int i = 0; i < out.size(); i++) {
        for (int j = i + 1; j < out.size(); j++) {
          Detection a = out.get(i);
          Detection b = out.get(j);
          if (a.classId() == b.classId() && Boxes.match(a, b, metric) >= 0.5) {
            throw new AssertionError(metric + " of kept " + a + " and " + b + " is at or above 0.5");
          }
        }
      }
    }
  }

  @Test
  void tenThousandBoxesUnderGreedyNmmKeepExactlyTheNmsKeepers() {
    // greedy_nmm suppresses exactly as nms does; it only grows the kept boxes
    List<Detection> in = randomScene(11, 10_000, 3);
    for (boolean agnostic : new boolean[] {false, true}) {
      List<Detection> nms = Merging.merge(in, NMS, IOS, 0.5, agnostic);
      List<Detection> greedy = Merging.merge(in, GREEDYNMM, IOS, 0.5, agnostic);
      assertEquals(nms.size(), greedy.size());
      for (int i = 0; i < nms.size(); i++) {
        Detection keeper = nms.get(i);
        Detection grown = greedy.get(i);
        assertEquals(keeper.score(), grown.score());
        assertTrue(grown.x1() <= keeper.x1() && grown.y1() <= keeper.y1()
            && grown.x2() >= keeper.x2() && grown.y2() >= keeper.y2(), grown + " holds " + keeper);
      }
    }
  }

  @Test
  void tenThousandBoxesUnderNmmGrowEachKeeperFromItsOwnClass() {
    List<Detection> in = randomScene(13, 10_000, 3);
    Map<Float, Detection> byScore = new HashMap<>();
    for (Detection d : in) {
      byScore.put(d.score(), d);
    }
    for (MatchMetric metric : MatchMetric.values()) {
      List<Detection> out = classWise(in, NMM, metric, 0.5);
      assertTrue(out.size() < in.size() && !out.isEmpty());
      assertSortedByScore(out);
      for (Detection d : out) {
        Detection keeper = byScore.get(d.score());
        assertEquals(keeper.classId(), d.classId());
        assertTrue(d.x1() <= keeper.x1() && d.y1() <= keeper.y1()
            && d.x2() >= keeper.x2() && d.y2() >= keeper.y2(), d + " holds " + keeper);
      }
    }
  }

  private static void assertSortedByScore(List<Detection> out) {
    for (int i = 1; i < out.size(); i++) {
      assertTrue(out.get(i - 1).score() >= out.get(i).score(), "sorted by score at " + i);
    }
  }
}
