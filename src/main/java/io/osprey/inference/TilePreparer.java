package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_core.BORDER_CONSTANT;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32FC1;
import static org.bytedeco.opencv.global.opencv_core.copyMakeBorder;
import static org.bytedeco.opencv.global.opencv_core.split;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2RGB;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.cvtColor;
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
 * Letterboxes one window of a decoded image straight into an NCHW float tensor. All OpenCV work (resize, padding,
 * colour order, scaling, channel split) runs natively; the final split writes into channel planes that alias the
 * tensor's direct buffer, so no pixel passes through Java. Working matrices are reused from tile to tile, and the
 * small per-tile native objects are freed when the tile is done, so native memory stays flat however many tiles run.
 * One instance per thread.
 */
public final class TilePreparer implements AutoCloseable {
  private final ModelLayout layout;
  private final int inputWidth;
  private final int inputHeight;
  private final Mat blurred = new Mat();
  private final Mat resized = new Mat();
  private Mat kernel;
  private double kernelSupport;
  private final Mat padded = new Mat();
  private final Mat ordered = new Mat();
  private final Mat floats = new Mat();
  private final Scalar padColour = new Scalar(114, 114, 114, 0);

  public TilePreparer(ModelLayout layout, int inputWidth, int inputHeight) {
    this.layout = layout;
    this.inputWidth = inputWidth;
    this.inputHeight = inputHeight;
  }

  /** Channel planes of one batch slot of a tensor buffer; create once per buffer and slot, then reuse. */
  public static final class Planes implements AutoCloseable {
    private final FloatPointer[] starts = new FloatPointer[3];
    private final Mat[] channels = new Mat[3];
    private final MatVector vector;

    public Planes(FloatBuffer tensor, int batchIndex, int inputWidth, int inputHeight) {
      int plane = inputWidth * inputHeight;
      for (int c = 0; c < 3; c++) {
        // A sliced buffer starts at the plane itself: a Pointer position would be applied in bytes for void*.
        FloatBuffer slice = tensor.duplicate().position(batchIndex * 3 * plane + c * plane).limit(
            batchIndex * 3 * plane + (c + 1) * plane).slice();
        starts[c] = new FloatPointer(slice);
        channels[c] = new Mat(inputHeight, inputWidth, CV_32FC1, starts[c]);
      }
      vector = new MatVector(channels);
    }

    @Override
    public void close() {
      vector.close();
      for (int c = 0; c < 3; c++) {
        channels[c].close();
        starts[c].close();
      }
    }
  }

  /** Fills {@code planes} with the letterboxed window; returns how to map boxes back to the window. */
  public Letterbox prepare(Mat image, Slicing.Window window, Planes planes) {
    Letterbox box = Letterbox.of(window.width(), window.height(), inputWidth, inputHeight, layout.centred());
    // Built outside the scope below: the cached kernel must outlive this tile.
    Mat filter = box.scale() < 1.0 ? triangle(1.0 / box.scale()) : null;
    try (PointerScope scope = new PointerScope()) {
      boolean whole = window.x1() == 0 && window.y1() == 0 && window.width() == image.cols()
          && window.height() == image.rows();
      Mat source = whole ? image : image.apply(new Rect(window.x1(), window.y1(), window.width(), window.height()));
      Mat fitted = source;
      if (box.resizedWidth() != window.width() || box.resizedHeight() != window.height()) {
        Mat input = source;
        if (filter != null) {
          // Plain INTER_LINEAR samples 2x2 pixels when shrinking and aliases small objects away. A triangle
          // pre-filter as wide as the shrink factor first makes it an antialiased bilinear, the resampler of
          // PIL and libvips that the reference detections were made with.
          sepFilter2D(source, blurred, -1, filter, filter);
          input = blurred;
        }
        resize(input, resized, new Size(box.resizedWidth(), box.resizedHeight()), 0, 0, INTER_LINEAR);
        fitted = resized;
      }
      copyMakeBorder(fitted, padded, box.padTop(), box.padBottom(), box.padLeft(), box.padRight(),
          BORDER_CONSTANT, padColour);
      Mat colour = padded;
      if (layout.rgbUnitScale()) {
        cvtColor(padded, ordered, COLOR_BGR2RGB);
        colour = ordered;
      }
      colour.convertTo(floats, CV_32F, layout.rgbUnitScale() ? 1.0 / 255.0 : 1.0, 0.0);
      split(floats, planes.vector);
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
    int radius = (int) Math.ceil(support) - 1;
    float[] weights = new float[2 * Math.max(radius, 0) + 1];
    float sum = 0;
    for (int k = -radius; k <= radius; k++) {
      float w = (float) Math.max(0, 1 - Math.abs(k) / support);
      weights[k + radius] = w;
      sum += w;
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
    padded.close();
    ordered.close();
    floats.close();
    padColour.close();
  }
}
