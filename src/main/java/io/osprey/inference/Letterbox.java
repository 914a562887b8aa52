package io.osprey.inference;

/**
 * How an image of {@code width x height} is fitted into the model's input: scaled by {@code scale} to
 * {@code resizedWidth x resizedHeight} and offset by {@code padLeft, padTop}. {@link #toImageX} and
 * {@link #toImageY} undo it for boxes.
 */
public record Letterbox(double scale, int resizedWidth, int resizedHeight, int padLeft, int padTop,
                        int inputWidth, int inputHeight) {

  /** Ultralytics' LetterBox (centred, rounded half-padding) or YOLOX's preproc (top-left, truncated size). */
  public static Letterbox of(int width, int height, int inputWidth, int inputHeight, boolean centred) {
    double r = Math.min((double) inputHeight / height, (double) inputWidth / width);
    if (centred) {
      int newW = (int) Math.round(width * r);
      int newH = (int) Math.round(height * r);
      double dw = (inputWidth - newW) / 2.0;
      double dh = (inputHeight - newH) / 2.0;
      // Ultralytics rounds (d - 0.1) for the leading side so odd paddings put the extra pixel after the image.
      int left = (int) Math.round(dw - 0.1);
      int top = (int) Math.round(dh - 0.1);
      return new Letterbox(r, newW, newH, left, top, inputWidth, inputHeight);
    }
    int newW = Math.max(1, (int) (width * r));
    int newH = Math.max(1, (int) (height * r));
    return new Letterbox(r, newW, newH, 0, 0, inputWidth, inputHeight);
  }

  public int padRight() {
    return inputWidth - resizedWidth - padLeft;
  }

  public int padBottom() {
    return inputHeight - resizedHeight - padTop;
  }

  public float toImageX(float x) {
    return (float) ((x - padLeft) / scale);
  }

  public float toImageY(float y) {
    return (float) ((y - padTop) / scale);
  }
}
