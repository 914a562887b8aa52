package io.osprey.inference;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Where to cut an image into overlapping tiles, exactly as SAHI's {@code sahi/slicing.py} does
 * ({@code get_slice_bboxes}, {@code get_auto_slice_params}), so that a model tuned with SAHI sees the same tiles here.
 */
public final class Slicing {

  /** A tile of the image, {@code [x1, x2) x [y1, y2)} in pixels of the full image. */
  public record Window(int x1, int y1, int x2, int y2) {

    public int width() {
      return x2 - x1;
    }

    public int height() {
      return y2 - y1;
    }
  }

  /**
   * Tile size and how many pixels neighbouring tiles share, along each axis.
   *
   * <p>An overlap may equal or exceed the slice only where the slice spans the whole image along that axis: SAHI's
   * {@code get_auto_slice_params} returns exactly that for small images (overlap = slice = image). {@link #grid}
   * rejects it anywhere else, where SAHI would loop forever.
   *
   * @throws IllegalArgumentException for a slice size that is not positive or a negative overlap
   */
  public record Params(int sliceWidth, int sliceHeight, int overlapWidthPx, int overlapHeightPx) {

    public Params {
      if (sliceWidth <= 0 || sliceHeight <= 0) {
        throw new IllegalArgumentException("slice size must be positive, got " + sliceWidth + "x" + sliceHeight);
      }
      if (overlapWidthPx < 0 || overlapHeightPx < 0) {
        throw new IllegalArgumentException(
            "overlap must not be negative, got " + overlapWidthPx + "x" + overlapHeightPx);
      }
    }
  }

  private Slicing() {
  }

  /**
   * Slice size and overlap from ratios, as {@code get_slice_bboxes} does when given a slice size: the overlap is
   * {@code int(ratio * slice)}, truncated as Python's {@code int()} does (512 at 0.2 gives 102, not 102.4 rounded).
   *
   * @throws IllegalArgumentException for a slice size that is not positive, or a ratio outside {@code [0, 1)}
   *     (SAHI raises for a ratio of 1 or more; a negative one would leave gaps between tiles)
   */
  public static Params fromRatios(int sliceWidth, int sliceHeight, double overlapWidthRatio,
      double overlapHeightRatio) {
    checkRatio("width", overlapWidthRatio);
    checkRatio("height", overlapHeightRatio);
    return new Params(sliceWidth, sliceHeight, (int) (overlapWidthRatio * sliceWidth),
        (int) (overlapHeightRatio * sliceHeight));
  }

  /**
   * SAHI's {@code get_auto_slice_params(height, width)}: slice size and overlap chosen from the image's pixel count
   * and orientation. The pixel count's power of two ({@code calc_resolution_factor}: the smallest {@code n} with
   * {@code 2^n >= w*h}, minus one) picks the resolution class:
   * <ul>
   *   <li>up to 18 ("low", e.g. 640x640): one tile, the whole image, with overlap equal to the image size;</li>
   *   <li>19-20 ("medium", e.g. 1068x580): 2 tiles across the long side, 1 across the short, overlap ratio 0.8;</li>
   *   <li>21-23 ("high", e.g. 2048x1365): 4 across the long side, 2 across the short, ratio 0.4;</li>
   *   <li>24 and more ("ultra-high", e.g. 6000x4000): 8 across the long side, 4 across the short, ratio 0.4.</li>
   * </ul>
   * SAHI's names are crossed ({@code split_row} divides the width, {@code split_col} the height, and a landscape
   * image gets the larger {@code split_row}); what matters, and what this reproduces, is that the longer side is cut
   * into twice as many tiles. Overlaps are truncated like Python's {@code int()}.
   *
   * @throws IllegalArgumentException for a size that is not positive, or an image so thin that SAHI's division
   *     gives a zero-pixel slice (SAHI would loop forever on it)
   */
  public static Params auto(int imageWidth, int imageHeight) {
    checkImage(imageWidth, imageHeight);
    int factor = resolutionFactor((long) imageWidth * imageHeight);
    if (factor <= 18) {
      // "low": split 1x1 with overlap ratio 1, so int(slice * 1) = the whole image; grid() then yields one window
      return new Params(imageWidth, imageHeight, imageWidth, imageHeight);
    }
    int slide;
    double ratio;
    if (factor < 21) {
      slide = 1;
      ratio = 0.8;
    } else if (factor < 24) {
      slide = 2;
      ratio = 0.4;
    } else {
      slide = 4;
      ratio = 0.4;
    }
    // calc_ratio_and_slice: the longer side gets twice the splits; square images the same on both
    int widthSplits = imageWidth > imageHeight ? 2 * slide : slide;
    int heightSplits = imageWidth < imageHeight ? 2 * slide : slide;
    int sliceWidth = imageWidth / widthSplits;
    int sliceHeight = imageHeight / heightSplits;
    if (sliceWidth == 0 || sliceHeight == 0) {
      throw new IllegalArgumentException("image " + imageWidth + "x" + imageHeight
          + " is too thin for automatic slicing; give a slice size");
    }
    return new Params(sliceWidth, sliceHeight, (int) (sliceWidth * ratio), (int) (sliceHeight * ratio));
  }

  /**
   * SAHI's {@code get_slice_bboxes}: tiles in row-major order (top row left to right, then the next row). Each step
   * advances by {@code slice - overlap}; a tile that would cross the right or bottom edge is shifted back inside so it
   * keeps the full slice size and ends on the edge, which makes the last tiles overlap their neighbours by more than
   * the overlap. An image smaller than the slice along an axis gets one tile clipped to the image along it.
   *
   * @throws IllegalArgumentException for an image size that is not positive, or an overlap not smaller than its slice
   *     where the slice is smaller than the image (SAHI would never advance and loop forever)
   */
  public static List<Window> grid(int imageWidth, int imageHeight, Params p) {
    checkImage(imageWidth, imageHeight);
    Objects.requireNonNull(p, "params");
    checkAdvances("width", imageWidth, p.sliceWidth(), p.overlapWidthPx());
    checkAdvances("height", imageHeight, p.sliceHeight(), p.overlapHeightPx());

    // long: x + slice must not overflow for sizes near Integer.MAX_VALUE
    long width = imageWidth;
    long height = imageHeight;
    long sliceWidth = p.sliceWidth();
    long sliceHeight = p.sliceHeight();
    List<Window> windows = new ArrayList<>();
    long yMin = 0;
    long yMax = 0;
    while (yMax < height) {
      yMax = yMin + sliceHeight;
      long xMin = 0;
      long xMax = 0;
      while (xMax < width) {
        xMax = xMin + sliceWidth;
        if (yMax > height || xMax > width) {
          long x2 = Math.min(width, xMax);
          long y2 = Math.min(height, yMax);
          windows.add(new Window((int) Math.max(0, x2 - sliceWidth), (int) Math.max(0, y2 - sliceHeight),
              (int) x2, (int) y2));
        } else {
          windows.add(new Window((int) xMin, (int) yMin, (int) xMax, (int) yMax));
        }
        xMin = xMax - p.overlapWidthPx();
      }
      yMin = yMax - p.overlapHeightPx();
    }
    return Collections.unmodifiableList(windows);
  }

  /** SAHI's {@code calc_resolution_factor}: the smallest {@code n} with {@code 2^n >= resolution}, minus one. */
  static int resolutionFactor(long resolution) {
    int exponent = 0;
    while ((1L << exponent) < resolution) {
      exponent++;
    }
    return exponent - 1;
  }

  private static void checkImage(int imageWidth, int imageHeight) {
    if (imageWidth <= 0 || imageHeight <= 0) {
      throw new IllegalArgumentException("image size must be positive, got " + imageWidth + "x" + imageHeight);
    }
  }

  private static void checkRatio(String axis, double ratio) {
    if (!(ratio >= 0 && ratio < 1)) {
      throw new IllegalArgumentException("overlap " + axis + " ratio must be in [0, 1), got " + ratio);
    }
  }

  private static void checkAdvances(String axis, int image, int slice, int overlap) {
    if (overlap >= slice && slice < image) {
      throw new IllegalArgumentException("overlap " + axis + " " + overlap + " px must be smaller than the slice "
          + slice + " px when the slice does not cover the image (" + image + " px)");
    }
  }
}
