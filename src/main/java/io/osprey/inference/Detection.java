package io.osprey.inference;

/**
 * One detected object: class, score and an axis-aligned box {@code (x1, y1)-(x2, y2)} in pixels of the image it was
 * found in (a tile while decoding, the original image once shifted back).
 */
public record Detection(int classId, String className, float score, float x1, float y1, float x2, float y2) {

  public float width() {
    return x2 - x1;
  }

  public float height() {
    return y2 - y1;
  }

  public float area() {
    return Math.max(0f, x2 - x1) * Math.max(0f, y2 - y1);
  }

  public Detection withBox(float nx1, float ny1, float nx2, float ny2) {
    return new Detection(classId, className, score, nx1, ny1, nx2, ny2);
  }
}
