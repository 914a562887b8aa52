package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32FC1;
import static org.bytedeco.opencv.global.opencv_core.split;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.bytedeco.opencv.global.opencv_imgproc.sepFilter2D;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;

/**
 * Letterboxes one window of a decoded image straight into an NCHW float tensor. All pixel work runs in OpenCV: the
 * window is resized (bilinear; when shrinking, after a triangle pre-filter as wide as the shrink factor, which makes
 * it the antialiased bilinear of PIL and libvips that the reference detections were made with, instead of a 2x2
 * sample that aliases small objects away), split into 8-bit channel planes, and each plane converted to float
 * directly into its place inside tensor planes that alias the tensor's direct buffer. Channel order (BGR to RGB) is
 * handled by which plane receives which channel, and the grey padding is only rewritten when the letterbox geometry
 * changes, so a tile costs one resize, one split and one conversion. Working matrices are reused from tile to tile
 * and the small per-tile native objects are freed when the tile is done, so native memory stays flat however many
 * tiles run. One instance per thread.
 */
public final class TilePreparer implements AutoCloseable {
  private final ModelLayout layout;
  private final int inputWidth;
  private final int inputHeight;
  private final Mat blurred = new Mat();
  private final Mat resized = new Mat();
  private final MatVector bytePlanes = new MatVector(3);
  private Mat kernel;
  private double kernelSupport;

  public TilePreparer(ModelLayout layout, int inputWidth, int inputHeight) {
    this.layout = layout;
    this.inputWidth = inputWidth;
    this.inputHeight = inputHeight;
  }

  /** Channel planes of one batch slot of a tensor buffer; create once per buffer and slot, then reuse. */
  public static final class Planes implements AutoCloseable {
    private final FloatPointer[] starts = new FloatPointer[3];
    private final Mat[] channels = new Mat[3];
    private Letterbox padded;

    public Planes(FloatBuffer tensor, int batchIndex, int inputWidth, int inputHeight) {
      int plane = inputWidth * inputHeight;
      for (int c = 0; c < 3; c++) {
        // A sliced buffer starts at the plane itself: a Pointer position would be applied in bytes for void*.
        FloatBuffer slice = tensor.duplicate().position(batchIndex * 3 * plane + c * plane).limit(
            batchIndex * 3 * plane + (c + 1) * plane).slice();
        starts[c] = new FloatPointer(slice);
        channels[c] = new Mat(inputHeight, inputWidth, CV_32FC1, starts[c]);
      }
    }

    @Override
    public void close() {
      for (int c = 0; c < 3; c++) {
        channels[c].close();
        starts[c].close();
      }
    }
  }

  /** Fills {@code planes} with the letterboxed window; returns how to map boxes back to the window. */
  public Letterbox prepare(Mat image, Slicing.Window window, Planes planes) {
    Letterbox box = Letterbox.of(window.width(), window.height(), inputWidth, inputHeight, layout.centred());
    double alpha = layout.rgbUnitScale() ? 1.0 / 255.0 : 1.0;
    // Built outside the scope below: the cached kernel must outlive this tile.
    Mat filter = box.scale() < 1.0 ? triangle(1.0 / box.scale()) : null;
    try (PointerScope scope = new PointerScope()) {
      if (!box.equals(planes.padded)) {
        try (Scalar grey = new Scalar(114 * alpha)) {
          for (Mat channel : planes.channels) {
            channel.put(grey);
          }
        }
        planes.padded = box;
      }
      boolean whole = window.x1() == 0 && window.y1() == 0 && window.width() == image.cols()
          && window.height() == image.rows();
      Mat source = whole ? image : image.apply(new Rect(window.x1(), window.y1(), window.width(), window.height()));
      Mat fitted = source;
      if (box.resizedWidth() != window.width() || box.resizedHeight() != window.height()) {
        Mat input = source;
        if (filter != null) {
          sepFilter2D(source, blurred, -1, filter, filter);
          input = blurred;
        }
        resize(input, resized, new Size(box.resizedWidth(), box.resizedHeight()), 0, 0, INTER_LINEAR);
        fitted = resized;
      }
      split(fitted, bytePlanes);
      Rect inside = new Rect(box.padLeft(), box.padTop(), box.resizedWidth(), box.resizedHeight());
      for (int c = 0; c < 3; c++) {
        // OpenCV decodes BGR: for RGB models blue goes to plane 2 and red to plane 0.
        int target = layout.rgbUnitScale() ? 2 - c : c;
        bytePlanes.get(c).convertTo(planes.channels[target].apply(inside), CV_32F, alpha, 0.0);
      }
    }
    return box;
  }

  /** Normalised 1-D triangle of half-width {@code support} source pixels, cached for the last support used. */
  private Mat triangle(double support) {
    if (kernel != null && kernelSupport == support) {
      return kernel;
    }
    if (kernel != null) {
      kernel.close();
    }
    int radius = Math.max(0, (int) Math.ceil(support) - 1);
    float[] weights = new float[2 * radius + 1];
    float sum = 0;
    for (int k = -radius; k <= radius; k++) {
      weights[k + radius] = (float) Math.max(0, 1 - Math.abs(k) / support);
      sum += weights[k + radius];
    }
    kernel = new Mat(weights.length, 1, CV_32FC1);
    try (FloatPointer data = new FloatPointer(kernel.data())) {
      for (int i = 0; i < weights.length; i++) {
        data.put(i, weights[i] / sum);
      }
    }
    kernelSupport = support;
    return kernel;
  }

  @Override
  public void close() {
    blurred.close();
    if (kernel != null) {
      kernel.close();
    }
    resized.close();
    bytePlanes.close();
  }
}
