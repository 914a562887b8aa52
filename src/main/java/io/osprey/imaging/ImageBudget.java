package io.osprey.imaging;

import io.osprey.config.Config;
import java.util.Locale;
import java.util.concurrent.Semaphore;

/**
 * The pixel budget of every image the service decodes, and the gate that bounds how many pixels are being decoded
 * at once.
 *
 * <p>A compressed image says nothing about what decoding it costs: a 1 MB PNG may declare 20000x20000 pixels and
 * make OpenCV allocate more than a gigabyte of native memory, outside the Java heap and invisible to its limits.
 * So the size an image declares in its header ({@link ImageInspector}, no decoding) is checked against
 * {@code images.max_pixels} before any decode, on every path that decodes; and the decodes that do run take
 * permits from one gate of {@code images.decode_budget_pixels}, so that many concurrent requests of the largest
 * allowed image queue instead of multiplying native memory.
 *
 * <p>Thread-safe; one instance per process.
 */
public final class ImageBudget {
  /** Permits are counted in blocks of this many pixels, so that budgets far above 2^31 pixels fit a Semaphore. */
  private static final long UNIT = 1024;

  private final long maxPixels;
  private final long decodeBudgetPixels;
  private final int budgetUnits;
  private final Semaphore gate;

  public ImageBudget(long maxPixels, long decodeBudgetPixels) {
    if (maxPixels < 1 || decodeBudgetPixels < 1) {
      throw new IllegalArgumentException("pixel limits must be positive");
    }
    this.maxPixels = maxPixels;
    this.decodeBudgetPixels = decodeBudgetPixels;
    this.budgetUnits = (int) Math.min(Integer.MAX_VALUE, units(decodeBudgetPixels));
    // Fair, so that a large decode waiting for the budget is not overtaken forever by a stream of small ones.
    this.gate = new Semaphore(budgetUnits, true);
  }

  public static ImageBudget from(Config config) {
    return new ImageBudget(config.longValue("images.max_pixels"), config.longValue("images.decode_budget_pixels"));
  }

  public long maxPixels() {
    return maxPixels;
  }

  public long decodeBudgetPixels() {
    return decodeBudgetPixels;
  }

  /** Whether an image of this declared size may be decoded. */
  public boolean allows(long width, long height) {
    return width * height <= maxPixels;
  }

  /**
   * Null when the declared size is within {@code images.max_pixels}; otherwise the message of the
   * INVALID_DIMENSIONS error, naming the declared size and the limit.
   */
  public String violation(long width, long height) {
    if (allows(width, height)) {
      return null;
    }
    return String.format(Locale.ROOT, "Image declares %dx%d = %d pixels; the limit is %d (images.max_pixels)",
        width, height, width * height, maxPixels);
  }

  /** {@link #violation} with the file named, for answers that list several files. */
  public String violation(String fileName, long width, long height) {
    String v = violation(width, height);
    return v == null || fileName == null ? v : fileName + ": " + v;
  }

  /**
   * Blocks (worker threads only) until {@code pixels} may be decoded within the budget, and answers the permit to
   * close when the decoded pixels are released. A decode larger than the whole budget waits for the budget to be
   * free and then runs alone.
   */
  public Permit acquire(long pixels) {
    int n = (int) Math.max(1, Math.min(budgetUnits, units(pixels)));
    gate.acquireUninterruptibly(n);
    return new Permit(n);
  }

  /** Pixels of the budget not held by a decode right now (for tests and metrics). */
  public long availablePixels() {
    return gate.availablePermits() * UNIT;
  }

  private static long units(long pixels) {
    return (pixels + UNIT - 1) / UNIT;
  }

  /** Held while a decode's pixels are in memory; closing it twice releases once. */
  public final class Permit implements AutoCloseable {
    private int units;

    private Permit(int units) {
      this.units = units;
    }

    @Override
    public synchronized void close() {
      if (units > 0) {
        gate.release(units);
        units = 0;
      }
    }
  }
}
