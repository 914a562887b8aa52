package io.osprey.inference;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Turns one image's slice of a model output into detections in that image's pixels. Reads the output buffer in
 * place (absolute gets, no copies) and allocates only for boxes that pass the threshold.
 */
public final class TensorDecoder {
  private static final int[] STRIDES = {8, 16, 32};
  /** Per-thread working rows of the YOLOv8 sweep (one engine per thread; 33 KB each at 8400 anchors). */
  private static final ThreadLocal<float[]> MAX = ThreadLocal.withInitial(() -> new float[0]);
  private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

  private TensorDecoder() {
  }

  /**
   * @param out        the output buffer; this image's values start at {@code offset}
   * @param rows       second output dimension (anchors for v5/yolox/end2end, 4 + classes for v8)
   * @param cols       third output dimension
   * @param classAllowed which class ids may be reported (include/exclude lists); checked before allocation
   */
  public static List<Detection> decode(ModelLayout layout, FloatBuffer out, int offset, int rows, int cols,
                                       Letterbox box, float threshold, IntPredicate classAllowed,
                                       List<String> names) {
    return switch (layout) {
      case YOLOV8 -> yolov8(out, offset, rows, cols, box, threshold, classAllowed, names);
      case YOLOV5 -> objectness(out, offset, rows, cols, box, threshold, classAllowed, names, false);
      case YOLOX -> objectness(out, offset, rows, cols, box, threshold, classAllowed, names, true);
      case END2END -> end2end(out, offset, rows, cols, box, threshold, classAllowed, names);
    };
  }

  private static List<Detection> yolov8(FloatBuffer out, int offset, int rows, int anchors, Letterbox box,
                                        float threshold, IntPredicate classAllowed, List<String> names) {
    int classes = rows - 4;
    int scoresAt = offset + 4 * anchors;
    // Pass 1: each anchor's best score alone, one class row at a time copied out of the direct buffer into a small
    // array (stays in cache), with Math.max, which the JIT vectorises. No argmax bookkeeping for the ~99 % of
    // anchors that end below the threshold.
    float[] best = scratch(MAX, anchors);
    float[] row = scratch(ROW, anchors);
    out.get(scoresAt, best, 0, anchors);
    for (int c = 1; c < classes; c++) {
      out.get(scoresAt + c * anchors, row, 0, anchors);
      for (int a = 0; a < anchors; a++) {
        best[a] = Math.max(best[a], row[a]);
      }
    }
    List<Detection> found = new ArrayList<>();
    for (int a = 0; a < anchors; a++) {
      if (best[a] < threshold) {
        continue; // also false for NaN, which pass 2 then judges exactly as a plain argmax would
      }
      // Pass 2, for the few candidates: the argmax as before (first class with the highest score; a NaN in class 0
      // stays the best), so the result is the same as a full argmax sweep.
      float bestScore = out.get(scoresAt + a);
      int bestClass = 0;
      for (int c = 1; c < classes; c++) {
        float s = out.get(scoresAt + c * anchors + a);
        if (s > bestScore) {
          bestScore = s;
          bestClass = c;
        }
      }
      // Argmax first, class filter after, as Ultralytics' NMS does: an excluded best class hides the anchor.
      if (bestScore < threshold || !classAllowed.test(bestClass)) {
        continue;
      }
      float cx = out.get(offset + a);
      float cy = out.get(offset + anchors + a);
      float w = out.get(offset + 2 * anchors + a);
      float h = out.get(offset + 3 * anchors + a);
      found.add(toImage(bestClass, bestScore, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, box, names));
    }
    return found;
  }

  private static float[] scratch(ThreadLocal<float[]> holder, int size) {
    float[] a = holder.get();
    if (a.length < size) {
      a = new float[size];
      holder.set(a);
    }
    return a;
  }

  /** YOLOv5 and YOLOX rows: box, objectness, class probabilities; YOLOX boxes are raw grid offsets. */
  private static List<Detection> objectness(FloatBuffer out, int offset, int anchors, int width, Letterbox box,
                                            float threshold, IntPredicate classAllowed, List<String> names,
                                            boolean gridDecode) {
    int classes = width - 5;
    List<Detection> found = new ArrayList<>();
    int[] gridX = null;
    int[] gridY = null;
    int[] strideOf = null;
    if (gridDecode) {
      gridX = new int[anchors];
      gridY = new int[anchors];
      strideOf = new int[anchors];
      int i = 0;
      for (int stride : STRIDES) {
        int gh = box.inputHeight() / stride;
        int gw = box.inputWidth() / stride;
        for (int y = 0; y < gh && i < anchors; y++) {
          for (int x = 0; x < gw && i < anchors; x++, i++) {
            gridX[i] = x;
            gridY[i] = y;
            strideOf[i] = stride;
          }
        }
      }
    }
    for (int a = 0; a < anchors; a++) {
      int row = offset + a * width;
      float obj = out.get(row + 4);
      if (obj < threshold) {
        continue; // obj * p <= obj: the row cannot pass
      }
      int best = -1;
      float bestProb = 0f;
      for (int c = 0; c < classes; c++) {
        float p = out.get(row + 5 + c);
        if (p > bestProb) {
          best = c;
          bestProb = p;
        }
      }
      float score = obj * bestProb;
      if (best < 0 || score < threshold || !classAllowed.test(best)) {
        continue;
      }
      float cx = out.get(row);
      float cy = out.get(row + 1);
      float w = out.get(row + 2);
      float h = out.get(row + 3);
      if (gridDecode) {
        int s = strideOf[a];
        cx = (cx + gridX[a]) * s;
        cy = (cy + gridY[a]) * s;
        w = (float) Math.exp(w) * s;
        h = (float) Math.exp(h) * s;
      }
      found.add(toImage(best, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, box, names));
    }
    return found;
  }

  private static List<Detection> end2end(FloatBuffer out, int offset, int rows, int width, Letterbox box,
                                         float threshold, IntPredicate classAllowed, List<String> names) {
    List<Detection> found = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      int row = offset + r * width;
      float score = out.get(row + 4);
      if (score < threshold) {
        continue;
      }
      int cls = Math.round(out.get(row + 5));
      if (cls < 0 || !classAllowed.test(cls)) {
        continue;
      }
      found.add(toImage(cls, score, out.get(row), out.get(row + 1), out.get(row + 2), out.get(row + 3), box,
          names));
    }
    return found;
  }

  private static Detection toImage(int cls, float score, float x1, float y1, float x2, float y2, Letterbox box,
                                   List<String> names) {
    String name = cls < names.size() ? names.get(cls) : "class_" + cls;
    return new Detection(cls, name, score, box.toImageX(x1), box.toImageY(y1), box.toImageX(x2), box.toImageY(y2));
  }
}
