package io.osprey.annotations;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_2;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_4;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_8;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

import io.osprey.uploads.ImageInspector;
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

  public AnnotationFiles(int thumbnailSize) {
    this.thumbnailSize = thumbnailSize;
  }

  /** A checked image waiting in the staging folder under a name that starts with its content id. */
  public record Staged(String id, Path path, String extension, String format, int width, int height, long size) {
  }

  /** Bad image content, with the error code of the upload tables (INVALID_FORMAT or CORRUPTED_FILE). */
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

  public Staged stage(byte[] bytes, Path stagingDir) throws IOException, Rejected {
    Files.createDirectories(stagingDir);
    Path part = stagingDir.resolve(UUID.randomUUID() + ".part");
    Files.write(part, bytes);
    return checkAndName(part, stagingDir, ContentId.of(bytes), bytes.length);
  }

  /** Takes over a file the HTTP layer received to disk, or copies one that stays where it is ({@code copy}). */
  public Staged stage(Path received, Path stagingDir, boolean copy) throws IOException, Rejected {
    Files.createDirectories(stagingDir);
    Path part = stagingDir.resolve(UUID.randomUUID() + ".part");
    if (copy) {
      Files.copy(received, part);
    } else {
      move(received, part);
    }
    return checkAndName(part, stagingDir, ContentId.of(part), Files.size(part));
  }

  private Staged checkAndName(Path part, Path stagingDir, String id, long size) throws IOException, Rejected {
    try {
      byte[] head = new byte[16];
      int n;
      try (InputStream in = Files.newInputStream(part)) {
        n = in.readNBytes(head, 0, head.length);
      }
      ImageInspector.Format format = ImageInspector.formatFromMagic(head, n);
      if (format == null) {
        throw new Rejected("INVALID_FORMAT", "Only JPEG, PNG, TIFF allowed: the image bytes are none of them");
      }
      ImageInspector.Result r = ImageInspector.inspect(part, "image." + format.extension());
      if (!r.ok()) {
        throw new Rejected(r.errorCode(), r.errorMessage());
      }
      Path named = stagingDir.resolve(id + "." + format.extension() + "." + UUID.randomUUID() + STAGED_SUFFIX);
      Files.move(part, named, StandardCopyOption.ATOMIC_MOVE);
      return new Staged(id, named, format.extension(), format.name(), r.width(), r.height(), size);
    } catch (IOException | Rejected | RuntimeException e) {
      Files.deleteIfExists(part);
      throw e;
    }
  }

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
   * A thumbnail whose longest side is the configured size. A JPEG much larger than that is decoded at 1/2, 1/4 or
   * 1/8 scale straight from its DCT coefficients, which is several times faster than a full decode and resize.
   */
  public void writeThumbnail(Path image, Path target, int width, int height) throws IOException {
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
    try (Mat src = imread(image.toString(), flags)) {
      if (src == null || src.empty()) {
        throw new IOException("cannot decode " + image + " for its thumbnail");
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
