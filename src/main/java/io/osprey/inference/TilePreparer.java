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
 * changes (and then only the border around the image area), so a tile costs one resize, one split and one
 * conversion. The engine prepares an image's tiles through a {@link Source}, which applies the antialiasing filter
 * once per row of slices, not once per slice, and to the rows that a row of slices shares with the previous one only
 * once; shrinks of 4 or more (the full-image pass) are halved before their filter ({@link #HALVING_RESIDUAL}).
 * Working matrices are reused from tile to tile and from image to image (a buffer the kernel has to map afresh costs
 * more than many of these passes), and the small per-tile native objects are freed when the tile is done, so native
 * memory stays flat however many tiles run. One instance per thread.
 */
public final class TilePreparer implements AutoCloseable {
  private final ModelLayout layout;
  private final int inputWidth;
  private final int inputHeight;
  /**
   * Halve while the shrink left afterwards is at least this (libvips' default "gap" before its resampling kernel):
   * the triangle that follows still spans two source pixels or more on each side. Only shrinks of 4 or more are
   * halved (the full-image pass of a large image, 320 px models); slices and shrinks below 4 come out exactly as
   * without this step. With 1.5 (halving the 3.2 shrink of terrain1's full-image pass into 640 too) EngineParityTest's
   * INT8 models dropped from 84 % to 80 % of reference boxes within its tight criterion; with 2 they keep 83 %.
   */
  static final double HALVING_RESIDUAL = 2.0;
  private final Mat blurred = new Mat();
  private final Mat halfA = new Mat();
  private final Mat halfB = new Mat();
  private final Mat resized = new Mat();
  /** The filtered rows of slices of the image a {@link Source} works on (one source at a time). */
  private final Mat band = new Mat();
  /** Header over the last unresized window (no pixels of its own). */
  private Mat view = new Mat();
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
    Letterbox box = letterbox(window);
    fill(fit(image, window, box), box, planes);
    return box;
  }

  /** The letterbox geometry of {@code window} for this model's input. */
  public Letterbox letterbox(Slicing.Window window) {
    return Letterbox.of(window.width(), window.height(), inputWidth, inputHeight, layout.centred());
  }

  /**
   * The resize step alone (public so the stage benchmark can time it apart from {@link #fill}): the window of
   * {@code image} at the letterbox's size, 8-bit BGR. The result is a view of {@code image} when no resize is needed,
   * else this preparer's own working matrix, valid until the next call; the caller must not close it.
   */
  public Mat fit(Mat image, Slicing.Window window, Letterbox box) {
    boolean whole = window.x1() == 0 && window.y1() == 0 && window.width() == image.cols()
        && window.height() == image.rows();
    if (box.resizedWidth() == window.width() && box.resizedHeight() == window.height()) {
      if (whole) {
        return image;
      }
      view.close();
      view = roi(image, window);
      return view;
    }
    // Large shrinks (the full-image pass) first halve the window while the shrink left stays >= HALVING_RESIDUAL:
    // an exact 2:1 bilinear resize averages each 2x2 block (a box filter) at a fraction of the cost of a wide
    // triangle over every source pixel, as libvips shrinks by an integer factor before its resampling kernel.
    int halvings = halvings(window, box);
    double shrink = 1.0 / box.scale() / (1 << halvings);
    // Built outside the scope below: the cached kernel must outlive this tile. Without halvings this is exactly
    // the filter of 1 / scale that tiles always had.
    Mat filter = box.scale() < 1.0 ? triangle(shrink) : null;
    try (PointerScope scope = new PointerScope()) {
      Mat input = whole ? image : image.apply(new Rect(window.x1(), window.y1(), window.width(), window.height()));
      for (int i = 0; i < halvings; i++) {
        Mat target = i % 2 == 0 ? halfA : halfB;
        resize(input, target, new Size(input.cols() / 2, input.rows() / 2), 0, 0, INTER_LINEAR);
        input = target;
      }
      if (filter != null) {
        sepFilter2D(input, blurred, -1, filter, filter);
        input = blurred;
      }
      resize(input, resized, new Size(box.resizedWidth(), box.resizedHeight()), 0, 0, INTER_LINEAR);
    }
    return resized;
  }

  /**
   * The tiles of one image (one at a time, then closed). Slices share one shrink factor, and the antialiasing
   * filter of an image region reads the pixels around it (OpenCV filters a sub-matrix with its real neighbours), so
   * filtering a full-width band of the image once and cutting each slice of that row out of it gives the same
   * pixels as filtering every slice apart, without filtering the horizontal overlaps again. A band, not the whole
   * image, so the extra memory stays one row of slices (15 MB for an 8192 px wide image and 640 px slices). Rows of
   * slices overlap too (by 40 % of a slice with SAHI's automatic grid, 60 % for terrain1's last row): the rows that
   * the next band shares with the last one are moved to its top and only the new rows are filtered, which gives the
   * same pixels for the same reason. The band's buffer belongs to the preparer and is reused image after image.
   */
  public final class Source implements AutoCloseable {
    private final Mat image;
    private double bandSupport = Double.NaN;
    private int bandTop = -1;
    private int bandBottom = -1;

    private Source(Mat image) {
      this.image = image;
    }

    /** {@link TilePreparer#prepare} for a window of this source's image. */
    public Letterbox prepare(Slicing.Window window, Planes planes) {
      Letterbox box = letterbox(window);
      fill(fit(window, box), box, planes);
      return box;
    }

    /** {@link TilePreparer#fit} for a window of this source's image. */
    public Mat fit(Slicing.Window window, Letterbox box) {
      boolean wholeWidth = window.x1() == 0 && window.width() == image.cols();
      boolean resizes = box.resizedWidth() != window.width() || box.resizedHeight() != window.height();
      if (wholeWidth || !resizes || box.scale() >= 1.0 || halvings(window, box) > 0) {
        return TilePreparer.this.fit(image, window, box);
      }
      double support = 1.0 / box.scale();
      if (support != bandSupport || window.y1() != bandTop || window.y2() != bandBottom) {
        filterBand(support, window.y1(), window.y2());
      }
      try (PointerScope scope = new PointerScope()) {
        Mat input = band.apply(new Rect(window.x1(), 0, window.width(), window.height()));
        resize(input, resized, new Size(box.resizedWidth(), box.resizedHeight()), 0, 0, INTER_LINEAR);
      }
      return resized;
    }

    /** Makes {@link TilePreparer#band} the filtered image rows {@code [top, bottom)}, reusing the rows it shares. */
    private void filterBand(double support, int top, int bottom) {
      Mat filter = triangle(support);
      int rows = bottom - top;
      int kept = 0;
      if (support == bandSupport && top > bandTop && top < bandBottom && bottom >= bandBottom
          && band.rows() == rows && band.cols() == image.cols()) {
        kept = bandBottom - top;
        shiftUp(top - bandTop, kept);
      }
      try (PointerScope scope = new PointerScope()) {
        Mat source = image.apply(new Rect(0, top + kept, image.cols(), rows - kept));
        // A band of the right size is written in place, the kept rows above it untouched; otherwise (first band of
        // an image of another size) sepFilter2D allocates it.
        Mat into = kept == 0 ? band : band.rowRange(kept, rows);
        sepFilter2D(source, into, -1, filter, filter);
      }
      bandSupport = support;
      bandTop = top;
      bandBottom = bottom;
    }

    /**
     * Moves band rows {@code [offset, offset + count)} to {@code [0, count)}, in blocks of at most {@code offset}
     * rows from the top, so that no block is read after it has been overwritten and no copy overlaps itself.
     */
    private void shiftUp(int offset, int count) {
      try (PointerScope scope = new PointerScope()) {
        for (int done = 0; done < count; done += offset) {
          int n = Math.min(offset, count - done);
          band.rowRange(offset + done, offset + done + n).copyTo(band.rowRange(done, done + n));
        }
      }
    }

    @Override
    public void close() {
      // The band's buffer stays with the preparer for the next image.
    }
  }

  /** Tiles of {@code image}, which must stay open and unchanged until the source is closed. */
  public Source source(Mat image) {
    return new Source(image);
  }

  /** How often {@link #fit} halves the window before its antialiasing filter (0 for slices). */
  private static int halvings(Slicing.Window window, Letterbox box) {
    double shrink = 1.0 / box.scale();
    int halvings = 0;
    for (int w = window.width(), h = window.height();
         shrink / 2 >= HALVING_RESIDUAL && w >= 2 * box.resizedWidth() && h >= 2 * box.resizedHeight();
         w /= 2, h /= 2) {
      shrink /= 2;
      halvings++;
    }
    return halvings;
  }

  private static Mat roi(Mat image, Slicing.Window window) {
    try (Rect r = new Rect(window.x1(), window.y1(), window.width(), window.height())) {
      return new Mat(image, r);
    }
  }

  /**
   * The tensor fill step alone: {@code fitted} (8-bit BGR at the letterbox's size) into {@code planes}, channel
   * order and scale as the model wants, grey padding around it (rewritten only when the geometry changed).
   */
  public void fill(Mat fitted, Letterbox box, Planes planes) {
    double alpha = layout.rgbUnitScale() ? 1.0 / 255.0 : 1.0;
    try (PointerScope scope = new PointerScope()) {
      if (!box.equals(planes.padded)) {
        // Only the border around the image area: the area itself is overwritten below.
        int right = box.padLeft() + box.resizedWidth();
        int bottom = box.padTop() + box.resizedHeight();
        Rect[] border = {
            new Rect(0, 0, inputWidth, box.padTop()),
            new Rect(0, bottom, inputWidth, inputHeight - bottom),
            new Rect(0, box.padTop(), box.padLeft(), box.resizedHeight()),
            new Rect(right, box.padTop(), inputWidth - right, box.resizedHeight())};
        try (Scalar grey = new Scalar(114 * alpha)) {
          for (Mat channel : planes.channels) {
            for (Rect r : border) {
              if (r.width() > 0 && r.height() > 0) {
                channel.apply(r).put(grey);
              }
            }
          }
        }
        planes.padded = box;
      }
      split(fitted, bytePlanes);
      Rect inside = new Rect(box.padLeft(), box.padTop(), box.resizedWidth(), box.resizedHeight());
      for (int c = 0; c < 3; c++) {
        // OpenCV decodes BGR: for RGB models blue goes to plane 2 and red to plane 0.
        int target = layout.rgbUnitScale() ? 2 - c : c;
        bytePlanes.get(c).convertTo(planes.channels[target].apply(inside), CV_32F, alpha, 0.0);
      }
    }
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
    halfA.close();
    halfB.close();
    if (kernel != null) {
      kernel.close();
    }
    resized.close();
    band.close();
    view.close();
    bytePlanes.close();
  }
}
