package io.osprey.annotations;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_2;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_4;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_8;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_GRAYSCALE_8;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

import io.osprey.imaging.ImageBudget;
import io.osprey.imaging.ImageInspector;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.UUID;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Size;

/**
 * The blocking file work of annotations and media (always on worker threads). Every file appears under its final
 * name by an atomic rename, so readers and the reconciler only ever see whole files.
 */
public final class AnnotationFiles {
  static final String STAGED_SUFFIX = ".staging";

  private final int thumbnailSize;
  private final ImageBudget budget;

  public AnnotationFiles(int thumbnailSize, ImageBudget budget) {
    this.thumbnailSize = thumbnailSize;
    this.budget = budget;
  }

  public ImageBudget budget() {
    return budget;
  }

  /**
   * A checked image waiting in the staging folder under a name that starts with its content id, with its thumbnail
   * (already made, which proved the image decodes) waiting in the thumbnail staging folder; {@code thumbnail} is
   * null only for staged images of other callers.
   */
  public record Staged(String id, Path path, String extension, String format, int width, int height, long size,
                       Path thumbnail) {
  }

  /**
   * Bad image content, with the error code of the upload tables (INVALID_FORMAT, INVALID_DIMENSIONS or
   * CORRUPTED_FILE). Permanent: the same bytes always fail the same way.
   */
  public static final class Rejected extends Exception {
    private final String code;

    public Rejected(String code, String message) {
      super(message, null, false, false);
      this.code = code;
    }

    public String code() {
      return code;
    }
  }

  /** Header facts of a checked image. */
  public record Checked(ImageInspector.Format format, int width, int height) {
  }

  public Staged stage(byte[] bytes, Directories dirs) throws IOException, Rejected {
    Files.createDirectories(dirs.staging());
    Path part = dirs.staging().resolve(UUID.randomUUID() + ".part");
    Files.write(part, bytes);
    return checkAndName(part, dirs, ContentId.of(bytes), bytes.length);
  }

  /** Takes over a file the HTTP layer received to disk, or copies one that stays where it is ({@code copy}). */
  public Staged stage(Path received, Directories dirs, boolean copy) throws IOException, Rejected {
    Files.createDirectories(dirs.staging());
    Path part = dirs.staging().resolve(UUID.randomUUID() + ".part");
    if (copy) {
      Files.copy(received, part);
    } else {
      move(received, part);
      touch(part);
    }
    return checkAndName(part, dirs, ContentId.of(part), Files.size(part));
  }

  /**
   * The structure (ImageInspector) and the declared size (images.max_pixels) of an image file, from its header
   * only: nothing is decoded.
   */
  public Checked check(Path image) throws IOException, Rejected {
    byte[] head = new byte[16];
    int n;
    try (InputStream in = Files.newInputStream(image)) {
      n = in.readNBytes(head, 0, head.length);
    }
    ImageInspector.Format format = ImageInspector.formatFromMagic(head, n);
    if (format == null) {
      throw new Rejected("INVALID_FORMAT", "Only JPEG, PNG, TIFF allowed: the image bytes are none of them");
    }
    ImageInspector.Result r = ImageInspector.inspect(image, "image." + format.extension());
    if (!r.ok()) {
      throw new Rejected(r.errorCode(), r.errorMessage());
    }
    String tooLarge = budget.violation(r.width(), r.height());
    if (tooLarge != null) {
      throw new Rejected("INVALID_DIMENSIONS", tooLarge);
    }
    return new Checked(format, r.width(), r.height());
  }

  /**
   * Header check, then the one decode of the image, which makes its thumbnail (staged under the content id) and so
   * proves, before anything is committed, that the pixel data decodes; then the image gets its staged name.
   */
  private Staged checkAndName(Path part, Directories dirs, String id, long size) throws IOException, Rejected {
    Path thumbnail = null;
    try {
      Checked c = check(part);
      thumbnail = stageThumbnail(part, c.width(), c.height(), dirs, id);
      Path named = dirs.staging().resolve(id + "." + c.format().extension() + "." + UUID.randomUUID()
          + STAGED_SUFFIX);
      Files.move(part, named, StandardCopyOption.ATOMIC_MOVE);
      // Decoding may have waited for the budget: the reconciler judges staged files by age, so the clock of this
      // one starts now, just before its transaction.
      touch(named);
      return new Staged(id, named, c.format().extension(), c.format().name(), c.width(), c.height(), size, thumbnail);
    } catch (IOException | Rejected | RuntimeException e) {
      Files.deleteIfExists(part);
      deleteQuietly(thumbnail);
      throw e;
    }
  }

  /**
   * Decodes {@code image} (whose header passed {@link #check}) into a thumbnail staged for the content id {@code id}
   * in the thumbnail staging folder, and answers its path. The image is undecodable: {@link Rejected}
   * CORRUPTED_FILE.
   */
  public Path stageThumbnail(Path image, int width, int height, Directories dirs, String id)
      throws IOException, Rejected {
    Path target = dirs.thumbnailStaging().resolve(id + ".jpg." + UUID.randomUUID() + STAGED_SUFFIX);
    thumbnail(image, target, width, height);
    return target;
  }

  /** Staged files of one content id (the reconciler looks for them after a crash). */
  /** Staged files of one content id (the reconciler looks for them after a crash). */
  public static List<Path> stagedFor(Path stagingDir, String id) throws IOException {
    if (!Files.isDirectory(stagingDir)) {
      return List.of();
    }
    try (var s = Files.list(stagingDir)) {
      return s.filter(p -> p.getFileName().toString().startsWith(id + ".")
          && p.getFileName().toString().endsWith(STAGED_SUFFIX)).toList();
    }
  }

  /**
   * Puts a staged image under its final name. The name is the content id, so a file already there holds the same
   * bytes and the staged copy is simply dropped.
   */
  public void publish(Path staged, Path target) throws IOException {
    Files.createDirectories(target.getParent());
    if (Files.exists(target)) {
      Files.deleteIfExists(staged);
      return;
    }
    move(staged, target);
  }

  public void writeLabel(Path target, List<Detection> detections) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (Detection d : detections) {
      sb.append(d.yoloLine()).append('\n');
    }
    atomically(target, sb.toString().getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A thumbnail whose longest side is the configured size, for an image already published (the reconciler and
   * edits re-derive missing thumbnails): the header is checked first, as before every decode.
   */
  public void writeThumbnail(Path image, Path target) throws IOException, Rejected {
    Checked c = check(image);
    thumbnail(image, target, c.width(), c.height());
  }

  /**
   * Decodes the image inside the decode budget and writes its thumbnail to {@code target} atomically. A JPEG much
   * larger than the thumbnail is decoded at 1/2, 1/4 or 1/8 scale straight from its DCT coefficients, which is
   * several times faster than a full decode and needs a fraction of the memory; other formats are decoded whole.
   * The permit covers the declared pixels whatever the scale: a progressive JPEG keeps every coefficient of the
   * image in memory during decoding even when it is scaled down.
   */
  private void thumbnail(Path image, Path target, int width, int height) throws IOException, Rejected {
    Files.createDirectories(target.getParent());
    Path partial = target.resolveSibling(target.getFileName() + "." + UUID.randomUUID() + ".partial.jpg");
    int longest = Math.max(width, height);
    int flags = IMREAD_COLOR;
    if (longest >= thumbnailSize * 8) {
      flags = IMREAD_REDUCED_COLOR_8;
    } else if (longest >= thumbnailSize * 4) {
      flags = IMREAD_REDUCED_COLOR_4;
    } else if (longest >= thumbnailSize * 2) {
      flags = IMREAD_REDUCED_COLOR_2;
    }
    try (ImageBudget.Permit permit = budget.acquire((long) width * height);
         Mat src = imread(image.toString(), flags)) {
      if (src == null || src.empty()) {
        throw undecodable();
      }
      double scale = Math.min(1.0, (double) thumbnailSize / Math.max(src.cols(), src.rows()));
      try (Mat thumb = new Mat(); IntPointer params = new IntPointer(IMWRITE_JPEG_QUALITY, 85)) {
        resize(src, thumb, new Size(Math.max(1, (int) Math.round(src.cols() * scale)),
            Math.max(1, (int) Math.round(src.rows() * scale))), 0, 0, INTER_AREA);
        if (!imwrite(partial.toString(), thumb, params)) {
          throw new IOException("cannot write " + partial);
        }
      }
      Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(partial);
    }
  }

  /**
   * Decodes a checked image (at the smallest scale and in grey, the cheapest full pass over its compressed data)
   * inside the decode budget, only to prove that it decodes: media are stored without a thumbnail, but an image
   * that cannot be decoded must not be stored at all.
   */
  public void verifyDecodes(Path image, int width, int height) throws Rejected {
    try (ImageBudget.Permit permit = budget.acquire((long) width * height);
         Mat m = imread(image.toString(), IMREAD_REDUCED_GRAYSCALE_8)) {
      if (m == null || m.empty()) {
        throw undecodable();
      }
    }
  }

  private static Rejected undecodable() {
    return new Rejected("CORRUPTED_FILE", "Unable to read image file: its header is valid but its pixel data"
        + " cannot be decoded (truncated or damaged compressed data)");
  }

  public static void atomically(Path target, byte[] content) throws IOException {
    Files.createDirectories(target.getParent());
    Path partial = target.resolveSibling(target.getFileName() + "." + UUID.randomUUID() + ".partial");
    try {
      Files.write(partial, content);
      Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(partial);
    }
  }

  /** A rename when both paths share a file system, else copy to a temporary sibling and rename. */
  static void move(Path from, Path to) throws IOException {
    Files.createDirectories(to.getParent());
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Path partial = to.resolveSibling(to.getFileName() + "." + UUID.randomUUID() + ".partial");
      Files.copy(from, partial);
      Files.move(partial, to, StandardCopyOption.ATOMIC_MOVE);
      Files.delete(from);
    }
  }

  /**
   * Sets a staged file's modification time to now. A moved file keeps the time it was received, and the reconciler
   * sweeps staged files by age: without this, a file that waited in a queue could be swept before its commit.
   */
  public static void touch(Path p) throws IOException {
    Files.setLastModifiedTime(p, java.nio.file.attribute.FileTime.from(java.time.Instant.now()));
  }

  public static void deleteQuietly(Path p) {
    try {
      if (p != null) {
        Files.deleteIfExists(p);
      }
    } catch (IOException ignored) {
      // the reconciler removes what is left
    }
  }
}
