package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.osprey.testing.UnitTest;
import java.nio.FloatBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each layout decoder on a tiny hand-made tensor, with a letterbox to undo. */
@UnitTest
class TensorDecoderTest {
  private static final List<String> NAMES = List.of("person", "car", "truck");
  /** 100x50 image in a 64x64 input: scale 0.64, resized 64x32, centred with 16 px on top. */
  private static final Letterbox CENTRED = Letterbox.of(100, 50, 64, 64, true);

  @Test
  void letterboxCentresLikeUltralyticsAndYoloxUsesTheTopLeft() {
    assertEquals(0.64, CENTRED.scale(), 1e-9);
    assertEquals(64, CENTRED.resizedWidth());
    assertEquals(32, CENTRED.resizedHeight());
    assertEquals(0, CENTRED.padLeft());
    assertEquals(16, CENTRED.padTop());
    assertEquals(16, CENTRED.padBottom());
    Letterbox odd = Letterbox.of(100, 61, 64, 64, true); // resized 64x39: 25 px of padding, 12 above, 13 below
    assertEquals(12, odd.padTop());
    assertEquals(13, odd.padBottom());
    Letterbox topLeft = Letterbox.of(100, 50, 64, 64, false);
    assertEquals(0, topLeft.padTop());
    assertEquals(32, topLeft.padBottom());
    assertEquals(50f, CENTRED.toImageX(32f), 1e-4);
    assertEquals(25f, CENTRED.toImageY(32f), 1e-4);
  }

  @Test
  void yolov8TakesTheBestClassPerAnchorAndUndoesTheLetterbox() {
    // [1, 4 + 3, 2 anchors]: anchor 0 is a car at 0.9 centred in the input; anchor 1 stays under threshold.
    int anchors = 2;
    float[] t = new float[7 * anchors];
    set(t, anchors, 0, 0, 32f, 32f, 16f, 8f, 0.1f, 0.9f, 0.3f);
    set(t, anchors, 1, 0, 10f, 10f, 4f, 4f, 0.2f, 0.1f, 0.1f);
    List<Detection> d = TensorDecoder.decode(ModelLayout.YOLOV8, FloatBuffer.wrap(t), 0, 7, anchors, CENTRED,
        0.25f, c -> true, NAMES);
    assertEquals(1, d.size());
    Detection car = d.get(0);
    assertEquals("car", car.className());
    assertEquals(0.9f, car.score(), 1e-6);
    assertEquals((24 - 0) / 0.64f, car.x1(), 1e-3);
    assertEquals((28 - 16) / 0.64f, car.y1(), 1e-3);
    assertEquals((40 - 0) / 0.64f, car.x2(), 1e-3);
    assertEquals((36 - 16) / 0.64f, car.y2(), 1e-3);
  }

  @Test
  void yolov8TwoPassSweepFindsWhatAFullArgmaxFindsWithTiesAndNaN() {
    // 84 x 8400 like a 640 model, mostly low scores; some anchors pass, some tie between classes (the first class
    // wins), one has NaN in class 0 (a plain argmax keeps NaN as its best and reports it), one NaN later (ignored).
    int anchors = 8400;
    int rows = 84;
    java.util.Random random = new java.util.Random(19);
    float[] t = new float[rows * anchors];
    for (int i = 0; i < t.length; i++) {
      t[i] = i < 4 * anchors ? 10 + random.nextFloat() * 600 : random.nextFloat() * 0.2f;
    }
    for (int k = 0; k < 300; k++) {
      int a = random.nextInt(anchors);
      float s = 0.2f + random.nextFloat() * 0.8f;
      t[(4 + random.nextInt(80)) * anchors + a] = s;
      if (k % 3 == 0) {
        t[(4 + random.nextInt(80)) * anchors + a] = s; // a tie, maybe before the first
      }
    }
    t[4 * anchors + 17] = Float.NaN;
    t[(4 + 40) * anchors + 18] = Float.NaN;
    t[(4 + 3) * anchors + 18] = 0.7f;
    List<String> names = new java.util.ArrayList<>();
    for (int c = 0; c < 80; c++) {
      names.add("c" + c);
    }
    Letterbox box = Letterbox.of(640, 640, 640, 640, true);
    java.util.function.IntPredicate notFive = c -> c != 5;
    List<Detection> got = TensorDecoder.decode(ModelLayout.YOLOV8, FloatBuffer.wrap(t), 0, rows, anchors, box,
        0.25f, notFive, names);
    // The reference: a full argmax per anchor, as the decoder did before its max-only first pass.
    List<Detection> want = new java.util.ArrayList<>();
    for (int a = 0; a < anchors; a++) {
      float best = t[4 * anchors + a];
      int cls = 0;
      for (int c = 1; c < 80; c++) {
        if (t[(4 + c) * anchors + a] > best) {
          best = t[(4 + c) * anchors + a];
          cls = c;
        }
      }
      if (best < 0.25f || !notFive.test(cls)) {
        continue;
      }
      float cx = t[a];
      float cy = t[anchors + a];
      float w = t[2 * anchors + a];
      float h = t[3 * anchors + a];
      want.add(new Detection(cls, names.get(cls), best, box.toImageX(cx - w / 2), box.toImageY(cy - h / 2),
          box.toImageX(cx + w / 2), box.toImageY(cy + h / 2)));
    }
    assertEquals(want, got);
    assertEquals(true, want.size() > 200, "only " + want.size() + " anchors passed; the test would prove little");
  }

  private static void set(float[] t, int anchors, int anchor, int unused, float cx, float cy, float w, float h,
                          float... scores) {
    t[anchor] = cx;
    t[anchors + anchor] = cy;
    t[2 * anchors + anchor] = w;
    t[3 * anchors + anchor] = h;
    for (int c = 0; c < scores.length; c++) {
      t[(4 + c) * anchors + anchor] = scores[c];
    }
  }

  @Test
  void excludedBestClassHidesTheAnchorInsteadOfFallingBackToTheSecond() {
    float[] t = new float[7];
    set(t, 1, 0, 0, 32f, 32f, 16f, 8f, 0.1f, 0.9f, 0.8f);
    List<Detection> d = TensorDecoder.decode(ModelLayout.YOLOV8, FloatBuffer.wrap(t), 0, 7, 1, CENTRED, 0.25f,
        c -> c != 1, NAMES);
    assertEquals(List.of(), d);
  }

  @Test
  void yolov5MultipliesObjectnessByClassProbability() {
    // [1, 2 rows, 5 + 3]: row 0 obj 0.8 x truck 0.9 = 0.72; row 1 obj 0.9 x person 0.2 = 0.18 < 0.25.
    float[] t = {
        32f, 32f, 16f, 8f, 0.8f, 0.05f, 0.05f, 0.9f,
        10f, 10f, 4f, 4f, 0.9f, 0.2f, 0.1f, 0.1f};
    List<Detection> d = TensorDecoder.decode(ModelLayout.YOLOV5, FloatBuffer.wrap(t), 0, 2, 8, CENTRED, 0.25f,
        c -> true, NAMES);
    assertEquals(1, d.size());
    assertEquals("truck", d.get(0).className());
    assertEquals(0.72f, d.get(0).score(), 1e-6);
  }

  @Test
  void yoloxDecodesGridOffsetsPerStride() {
    // 64x64 input: 8x8 cells at stride 8 (64 rows), 4x4 at 16, 2x2 at 32 = 84 rows. Row 9 is cell (1,1) at stride 8.
    int rows = ModelLayout.gridCells(64, 64);
    assertEquals(84, rows);
    float[] t = new float[rows * 8];
    int r = 9;
    float[] row = {0.5f, 0.5f, (float) Math.log(2), 0f, 0.9f, 0.0f, 1.0f, 0.0f};
    System.arraycopy(row, 0, t, r * 8, 8);
    Letterbox topLeft = Letterbox.of(64, 64, 64, 64, false);
    List<Detection> d = TensorDecoder.decode(ModelLayout.YOLOX, FloatBuffer.wrap(t), 0, rows, 8, topLeft, 0.25f,
        c -> true, NAMES);
    assertEquals(1, d.size());
    // cx = (0.5 + 1) * 8 = 12, cy = 12, w = e^ln2 * 8 = 16, h = e^0 * 8 = 8
    assertEquals(4f, d.get(0).x1(), 1e-4);
    assertEquals(8f, d.get(0).y1(), 1e-4);
    assertEquals(20f, d.get(0).x2(), 1e-4);
    assertEquals(16f, d.get(0).y2(), 1e-4);
    assertEquals("car", d.get(0).className());
  }

  @Test
  void end2endRowsAreReadAsCornersScoreAndClass() {
    float[] t = {
        0f, 16f, 32f, 48f, 0.95f, 2f,
        0f, 0f, 1f, 1f, 0.01f, 0f};
    List<Detection> d = TensorDecoder.decode(ModelLayout.END2END, FloatBuffer.wrap(t), 0, 2, 6, CENTRED, 0.25f,
        c -> true, NAMES);
    assertEquals(1, d.size());
    assertEquals("truck", d.get(0).className());
    assertEquals(0f, d.get(0).y1(), 1e-4);
    assertEquals(50f, d.get(0).x2(), 1e-4);
  }

  @Test
  void secondImageOfABatchIsReadAtItsOffset() {
    float[] t = new float[16];
    float[] second = {32f, 32f, 16f, 8f, 0.8f, 0.05f, 0.05f, 0.9f};
    System.arraycopy(second, 0, t, 8, 8);
    List<Detection> d = TensorDecoder.decode(ModelLayout.YOLOV5, FloatBuffer.wrap(t), 8, 1, 8, CENTRED, 0.25f,
        c -> true, NAMES);
    assertEquals(1, d.size());
  }
}
