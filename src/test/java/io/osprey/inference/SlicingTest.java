package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.inference.Slicing.Params;
import io.osprey.inference.Slicing.Window;
import io.osprey.testing.UnitTest;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Expected windows and parameters are what SAHI's {@code get_slice_bboxes} and {@code get_auto_slice_params} return
 * for the same input, worked through by hand from SAHI's loops (and the numbers noted at each case).
 */
@UnitTest
class SlicingTest {

  private static Window w(int x1, int y1, int x2, int y2) {
    return new Window(x1, y1, x2, y2);
  }

  @Test
  void gridOf1068x580With512SlicesAndOverlap02MatchesSahi() {
    // overlap int(0.2 * 512) = 102, so tiles step by 410; x: 0, 410, then 820 + 512 > 1068 is pulled back to 556;
    // y: 0, then 410 + 512 > 580 is pulled back to 580 - 512 = 68
    List<Window> windows = Slicing.grid(1068, 580, Slicing.fromRatios(512, 512, 0.2, 0.2));

    assertEquals(List.of(
        w(0, 0, 512, 512), w(410, 0, 922, 512), w(556, 0, 1068, 512),
        w(0, 68, 512, 580), w(410, 68, 922, 580), w(556, 68, 1068, 580)), windows);
  }

  @Test
  void edgeTilesAreShiftedBackInsideAndKeepTheFullSliceSize() {
    List<Window> windows = Slicing.grid(1068, 580, Slicing.fromRatios(512, 512, 0.2, 0.2));

    for (Window window : windows) {
      assertEquals(512, window.width(), window.toString());
      assertEquals(512, window.height(), window.toString());
      assertTrue(window.x1() >= 0 && window.y1() >= 0 && window.x2() <= 1068 && window.y2() <= 580, window.toString());
    }
    // the last column and row end exactly on the image edge
    assertEquals(1068, windows.get(2).x2());
    assertEquals(580, windows.get(5).y2());
  }

  @Test
  void imageSmallerThanTheSliceGivesOneWindowCoveringTheWholeImage() {
    assertEquals(List.of(w(0, 0, 300, 200)), Slicing.grid(300, 200, Slicing.fromRatios(512, 512, 0.2, 0.2)));
  }

  @Test
  void imageSmallerThanTheSliceAlongOneAxisIsClippedOnlyAlongThatAxis() {
    // SAHI: [[0, 0, 512, 200], [410, 0, 922, 200], [488, 0, 1000, 200]]
    assertEquals(List.of(w(0, 0, 512, 200), w(410, 0, 922, 200), w(488, 0, 1000, 200)),
        Slicing.grid(1000, 200, Slicing.fromRatios(512, 512, 0.2, 0.2)));
  }

  @Test
  void imageExactlyOneSliceGivesOneWindow() {
    assertEquals(List.of(w(0, 0, 512, 512)), Slicing.grid(512, 512, Slicing.fromRatios(512, 512, 0.2, 0.2)));
  }

  @Test
  void zeroOverlapTilesAbutWithoutGapsInRowMajorOrder() {
    List<Window> windows = Slicing.grid(1024, 1536, Slicing.fromRatios(512, 512, 0, 0));

    assertEquals(List.of(
        w(0, 0, 512, 512), w(512, 0, 1024, 512),
        w(0, 512, 512, 1024), w(512, 512, 1024, 1024),
        w(0, 1024, 512, 1536), w(512, 1024, 1024, 1536)), windows);
    long covered = windows.stream().mapToLong(x -> (long) x.width() * x.height()).sum();
    assertEquals(1024L * 1536, covered, "no gaps and no overlap: the tiles' areas add up to the image");
  }

  @Test
  void overlapPixelsAreTruncatedLikePythonInt() {
    // 0.2 * 512 = 102.4 -> 102; 0.29 * 100 = 28.999999999999996 in IEEE doubles -> 28, as Python's int() gives
    assertEquals(new Params(512, 100, 102, 28), Slicing.fromRatios(512, 100, 0.2, 0.29));
  }

  @Test
  void autoParamsMatchSahiForMediumHighAndUltraHighImages() {
    // 1068x580 = 619440 px, 2^19 < px <= 2^20 -> factor 19, "medium"; landscape: width / 2, height / 1, ratio 0.8:
    // 534 and 580, overlaps int(534 * 0.8) = 427 and int(580 * 0.8) = 464
    assertEquals(new Params(534, 580, 427, 464), Slicing.auto(1068, 580));
    // 2048x1365 = 2795520 px -> factor 21, "high"; landscape: width / 4, height / 2, ratio 0.4:
    // 512 and 682, overlaps int(204.8) = 204 and int(272.8) = 272
    assertEquals(new Params(512, 682, 204, 272), Slicing.auto(2048, 1365));
    // 810x1080 = 874800 px -> factor 19, "medium"; portrait: width / 1, height / 2: 810 and 540, overlaps 648, 432
    assertEquals(new Params(810, 540, 648, 432), Slicing.auto(810, 1080));
    // 6000x4000 = 24e6 px -> factor 24, "ultra-high"; landscape: width / 8, height / 4: 750 and 1000, ratio 0.4
    assertEquals(new Params(750, 1000, 300, 400), Slicing.auto(6000, 4000));
    // and the same image held upright swaps the splits
    assertEquals(new Params(1000, 750, 400, 300), Slicing.auto(4000, 6000));
    // square: 1024x1024 -> factor 19, medium, 1 split each way, overlap int(1024 * 0.8) = 819
    assertEquals(new Params(1024, 1024, 819, 819), Slicing.auto(1024, 1024));
  }

  @Test
  void autoParamsForSmallImagesAreTheWholeImageWithFullOverlap() {
    // 64x64 = 4096 px -> factor 11, "low": split 1x1 and overlap ratio 1, so overlap = slice = image
    assertEquals(new Params(64, 64, 64, 64), Slicing.auto(64, 64));
    assertEquals(List.of(w(0, 0, 64, 64)), Slicing.grid(64, 64, Slicing.auto(64, 64)));
    assertEquals(List.of(w(0, 0, 1, 1)), Slicing.grid(1, 1, Slicing.auto(1, 1)));
  }

  @Test
  void autoResolutionClassBoundariesFollowSahiCodeNotItsDocstring() {
    // 724^2 = 524176 <= 2^19 -> factor 18, still low; 725^2 = 525625 > 2^19 -> factor 19, medium
    assertEquals(new Params(724, 724, 724, 724), Slicing.auto(724, 724));
    assertEquals(new Params(725, 725, 580, 580), Slicing.auto(725, 725));
    // 4096x4096 = 2^24 exactly: the smallest n with 2^n >= px is 24, minus one = 23, so "high", not "ultra-high"
    assertEquals(new Params(2048, 2048, 819, 819), Slicing.auto(4096, 4096));
    assertEquals(23, Slicing.resolutionFactor(4096L * 4096));
    assertEquals(-1, Slicing.resolutionFactor(1));
  }

  @Test
  void autoGridFor1068x580MatchesSahi() {
    // slice 534x580, step 534 - 427 = 107; the sixth tile (535 + 534 > 1068) is pulled back to 534
    assertEquals(List.of(
        w(0, 0, 534, 580), w(107, 0, 641, 580), w(214, 0, 748, 580),
        w(321, 0, 855, 580), w(428, 0, 962, 580), w(534, 0, 1068, 580)),
        Slicing.grid(1068, 580, Slicing.auto(1068, 580)));
  }

  @Test
  void autoGridFor2048x1365MatchesSahi() {
    // slice 512x682, x step 308, y step 410; last column pulled back to 1536, last row to 1365 - 682 = 683
    List<Window> expected = List.of(
        w(0, 0, 512, 682), w(308, 0, 820, 682), w(616, 0, 1128, 682),
        w(924, 0, 1436, 682), w(1232, 0, 1744, 682), w(1536, 0, 2048, 682),
        w(0, 410, 512, 1092), w(308, 410, 820, 1092), w(616, 410, 1128, 1092),
        w(924, 410, 1436, 1092), w(1232, 410, 1744, 1092), w(1536, 410, 2048, 1092),
        w(0, 683, 512, 1365), w(308, 683, 820, 1365), w(616, 683, 1128, 1365),
        w(924, 683, 1436, 1365), w(1232, 683, 1744, 1365), w(1536, 683, 2048, 1365));
    assertEquals(expected, Slicing.grid(2048, 1365, Slicing.auto(2048, 1365)));
  }

  @Test
  void windowReportsItsSize() {
    Window window = w(10, 20, 110, 70);
    assertEquals(100, window.width());
    assertEquals(50, window.height());
  }

  @Test
  void invalidParamsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> new Params(0, 512, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Params(512, -1, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Params(512, 512, -1, 0));
    assertThrows(IllegalArgumentException.class, () -> Slicing.fromRatios(512, 512, 1.0, 0.2));
    assertThrows(IllegalArgumentException.class, () -> Slicing.fromRatios(512, 512, 0.2, -0.1));
    assertThrows(IllegalArgumentException.class, () -> Slicing.fromRatios(512, 512, Double.NaN, 0.2));
    assertThrows(IllegalArgumentException.class, () -> Slicing.fromRatios(0, 512, 0.2, 0.2));
    assertThrows(IllegalArgumentException.class, () -> Slicing.auto(0, 100));
    assertThrows(IllegalArgumentException.class, () -> Slicing.auto(100, -5));
    // ultra-high and portrait: SAHI divides the 1 px width by 4 and gets a 0 px slice
    assertThrows(IllegalArgumentException.class, () -> Slicing.auto(1, 20_000_000));
  }

  @Test
  void gridRejectsBadImagesAndOverlapsThatWouldNeverAdvance() {
    Params p = Slicing.fromRatios(512, 512, 0.2, 0.2);
    assertThrows(IllegalArgumentException.class, () -> Slicing.grid(0, 580, p));
    assertThrows(IllegalArgumentException.class, () -> Slicing.grid(1068, -1, p));
    assertThrows(NullPointerException.class, () -> Slicing.grid(1068, 580, null));
    // overlap = slice on an image wider than the slice: SAHI's loop would never move on
    assertThrows(IllegalArgumentException.class, () -> Slicing.grid(1068, 580, new Params(512, 512, 512, 0)));
    assertThrows(IllegalArgumentException.class, () -> Slicing.grid(1068, 580, new Params(512, 512, 0, 600)));
    // but where the slice spans the axis there is only one step, as in SAHI's "low" auto params
    assertEquals(List.of(w(0, 0, 1068, 512), w(0, 68, 1068, 580)),
        Slicing.grid(1068, 580, new Params(1068, 512, 1068, 102)));
  }
}
