package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.osprey.testing.UnitTest;
import org.junit.jupiter.api.Test;

@UnitTest
class BoxesTest {

  private static Detection box(float x1, float y1, float x2, float y2) {
    return new Detection(3, "boat", 0.75f, x1, y1, x2, y2);
  }

  @Test
  void iouOfHalfShiftedSquaresIsOneThird() {
    // intersection 5x10 = 50, union 100 + 100 - 50 = 150
    Detection a = box(0, 0, 10, 10);
    Detection b = box(5, 0, 15, 10);
    assertEquals(1.0 / 3, Boxes.iou(a, b), 1e-12);
    assertEquals(1.0 / 3, Boxes.iou(b, a), 1e-12);
    assertEquals(50, Boxes.intersection(a, b), 1e-12);
  }

  @Test
  void iosDividesByTheSmallerArea() {
    Detection a = box(0, 0, 10, 10);
    Detection b = box(5, 0, 15, 10);
    assertEquals(0.5, Boxes.ios(a, b), 1e-12);
    // a 4x4 box inside a 20x20 one: IoS 1 however small it is, IoU only 16 / 400
    Detection big = box(0, 0, 20, 20);
    Detection small = box(2, 2, 6, 6);
    assertEquals(1.0, Boxes.ios(big, small), 1e-12);
    assertEquals(1.0, Boxes.ios(small, big), 1e-12);
    assertEquals(0.04, Boxes.iou(big, small), 1e-12);
  }

  @Test
  void matchPicksTheMetric() {
    Detection a = box(0, 0, 10, 10);
    Detection b = box(5, 0, 15, 10);
    assertEquals(Boxes.iou(a, b), Boxes.match(a, b, MatchMetric.IOU));
    assertEquals(Boxes.ios(a, b), Boxes.match(a, b, MatchMetric.IOS));
  }

  @Test
  void identicalBoxesMatchFully() {
    Detection a = box(1.5f, 2.5f, 11.5f, 8.5f);
    assertEquals(1.0, Boxes.iou(a, a), 1e-12);
    assertEquals(1.0, Boxes.ios(a, a), 1e-12);
  }

  @Test
  void disjointAndTouchingBoxesDoNotOverlap() {
    Detection a = box(0, 0, 10, 10);
    assertEquals(0, Boxes.iou(a, box(20, 20, 30, 30)));
    assertEquals(0, Boxes.ios(a, box(20, 20, 30, 30)));
    // sharing only an edge or a corner is no overlap
    assertEquals(0, Boxes.iou(a, box(10, 0, 20, 10)));
    assertEquals(0, Boxes.ios(a, box(10, 10, 20, 20)));
  }

  @Test
  void zeroAreaBoxesGiveZeroNotNaN() {
    Detection line = box(5, 0, 5, 10);
    Detection point = box(5, 5, 5, 5);
    Detection a = box(0, 0, 10, 10);
    assertEquals(0, Boxes.iou(line, line));
    assertEquals(0, Boxes.ios(line, line));
    assertEquals(0, Boxes.iou(point, point));
    assertEquals(0, Boxes.ios(point, a));
    assertEquals(0, Boxes.ios(a, line));
    assertEquals(0, Boxes.iou(a, line));
    // an inverted box has no area either
    Detection inverted = box(10, 10, 0, 0);
    assertEquals(0, Boxes.iou(inverted, a));
    assertEquals(0, Boxes.ios(inverted, a));
  }

  @Test
  void shiftMovesTheBoxAndKeepsClassAndScore() {
    Detection d = box(1, 2, 11, 22);
    assertEquals(new Detection(3, "boat", 0.75f, 411, 70, 421, 90), Boxes.shift(d, 410, 68));
    assertSame(d, Boxes.shift(d, 0, 0));
  }

  @Test
  void clipCutsTheBoxToTheImage() {
    assertEquals(box(0, 0, 30, 20), Boxes.clip(box(-10, -5, 30, 20), 100, 50));
    assertEquals(box(90, 40, 100, 50), Boxes.clip(box(90, 40, 120, 70), 100, 50));
  }

  @Test
  void clipReturnsTheSameDetectionWhenInside() {
    Detection d = box(0, 0, 100, 50);
    assertSame(d, Boxes.clip(d, 100, 50));
  }

  @Test
  void clipReturnsNullWhenNoAreaIsLeft() {
    assertNull(Boxes.clip(box(120, 10, 150, 20), 100, 50), "entirely right of the image");
    assertNull(Boxes.clip(box(-20, 10, 0, 20), 100, 50), "touching the left edge from outside");
    assertNull(Boxes.clip(box(10, 10, 10, 20), 100, 50), "zero width to begin with");
    assertNull(Boxes.clip(box(10, 10, Float.NaN, 20), 100, 50), "NaN coordinate");
  }

  @Test
  void clipRejectsAnEmptyImage() {
    assertThrows(IllegalArgumentException.class, () -> Boxes.clip(box(0, 0, 1, 1), 0, 10));
  }

  @Test
  void unionIsTheSmallestBoxHoldingBoth() {
    Detection a = new Detection(1, "car", 0.9f, 0, 5, 10, 10);
    Detection b = new Detection(2, "truck", 0.4f, 5, 0, 15, 8);
    assertEquals(new Detection(1, "car", 0.9f, 0, 0, 15, 10), Boxes.union(a, b));
  }
}
