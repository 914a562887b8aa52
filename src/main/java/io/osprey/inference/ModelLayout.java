package io.osprey.inference;

/** The output conventions of the detector families Osprey runs. */
public enum ModelLayout {
  /** Ultralytics v8/v11: one output [1, 4 + classes, anchors], cx cy w h then class scores, no objectness. */
  YOLOV8(true, true, false),
  /** Ultralytics v5: output named "output" [1, 3 * anchors, 5 + classes], objectness times class probability. */
  YOLOV5(true, true, false),
  /** NMS-free heads: [1, K, 6] = x1 y1 x2 y2 score class, already selected. */
  END2END(true, true, true),
  /** Megvii YOLOX: [1, anchors, 5 + classes] of raw grid offsets; BGR 0-255 input placed top-left. */
  YOLOX(false, false, false);

  private final boolean rgbUnitScale;
  private final boolean centred;
  private final boolean selectsItself;

  ModelLayout(boolean rgbUnitScale, boolean centred, boolean selectsItself) {
    this.rgbUnitScale = rgbUnitScale;
    this.centred = centred;
    this.selectsItself = selectsItself;
  }

  /** True: RGB scaled to 0..1. False: BGR raw 0..255. */
  public boolean rgbUnitScale() {
    return rgbUnitScale;
  }

  /** True: letterbox centred (Ultralytics). False: image at the top-left, padding right and bottom (YOLOX). */
  public boolean centred() {
    return centred;
  }

  /** True when the model already does its own selection, so no per-tile NMS is applied. */
  public boolean selectsItself() {
    return selectsItself;
  }

  /** Anchors of a stride-8/16/32 detector with one anchor per cell, e.g. 8400 at 640 and 3549 at 416. */
  public static int gridCells(int inputWidth, int inputHeight) {
    int cells = 0;
    for (int stride : new int[] {8, 16, 32}) {
      cells += (inputWidth / stride) * (inputHeight / stride);
    }
    return cells;
  }
}
