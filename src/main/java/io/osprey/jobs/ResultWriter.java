package io.osprey.jobs;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.FONT_HERSHEY_SIMPLEX;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.LINE_AA;
import static org.bytedeco.opencv.global.opencv_imgproc.getTextSize;
import static org.bytedeco.opencv.global.opencv_imgproc.putText;
import static org.bytedeco.opencv.global.opencv_imgproc.rectangle;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

import io.osprey.inference.Detection;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Point;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;

/**
 * Writes one image's results under {@code results/{job_id}/}: YOLO prediction lines, the JSON detections, and,
 * when asked, the annotated JPEG and its thumbnail. Every file is written to a temporary name and renamed, so a
 * reader (or a crash) never sees half a file, and a re-run replaces files instead of adding to them. Blocking:
 * runs on inference worker threads.
 */
public final class ResultWriter {
  private final StorageLayout layout;
  private final int thumbnailSize;
  private final int jpegQuality;

  public ResultWriter(StorageLayout layout, int thumbnailSize, int jpegQuality) {
    this.layout = layout;
    this.thumbnailSize = thumbnailSize;
    this.jpegQuality = jpegQuality;
  }

  /**
   * @param rules what the rules stage did to these detections, or null when it did not run; then each detection
   *              carries its {@code rules} notes and the suppressed boxes are kept aside with their reasons
   */
  public void write(String jobId, String fileId, int width, int height, List<Detection> detections,
                    RulesStage.Outcome rules, Mat image, boolean visualize) throws IOException {
    StringBuilder yolo = new StringBuilder();
    JsonArray json = new JsonArray();
    for (int i = 0; i < detections.size(); i++) {
      Detection d = detections.get(i);
      yolo.append(String.format(Locale.ROOT, "%d %.6f %.6f %.6f %.6f %.6f%n", d.classId(),
          (d.x1() + d.x2()) / 2 / width, (d.y1() + d.y2()) / 2 / height, d.width() / width, d.height() / height,
          d.score()));
      JsonObject entry = toJson(d, width, height);
      if (rules != null) {
        JsonArray notes = new JsonArray();
        for (RulesStage.Note n : rules.notes().get(i)) {
          notes.add(new JsonObject().put("rule_set", rules.ruleSet()).put("action", n.action())
              .put("from", n.from()).put("to", n.to()));
        }
        entry.put("rules", notes);
      }
      json.add(entry);
    }
    atomically(layout.predictions(jobId, fileId), yolo.toString().getBytes(StandardCharsets.UTF_8));
    atomically(layout.detections(jobId, fileId), json.encode().getBytes(StandardCharsets.UTF_8));
    if (rules != null) {
      JsonArray suppressed = new JsonArray();
      for (int i = 0; i < rules.suppressed().size(); i++) {
        suppressed.add(toJson(rules.suppressed().get(i), width, height).put("suppressed_by", new JsonObject()
            .put("rule_set", rules.ruleSet()).put("reason", rules.suppressedReasons().get(i))));
      }
      atomically(layout.suppressed(jobId, fileId), suppressed.encode().getBytes(StandardCharsets.UTF_8));
    }
    if (visualize) {
      writeImages(jobId, fileId, detections, image);
    }
  }

  /** A detection as the results API returns it: class, confidence, pixel box and normalised YOLO box. */
  public static JsonObject toJson(Detection d, int width, int height) {
    return new JsonObject()
        .put("class_id", d.classId())
        .put("class_name", d.className())
        .put("confidence", round(d.score(), 4))
        .put("bbox", new JsonObject()
            .put("x1", round(d.x1(), 1)).put("y1", round(d.y1(), 1))
            .put("x2", round(d.x2(), 1)).put("y2", round(d.y2(), 1))
            .put("width", round(d.width(), 1)).put("height", round(d.height(), 1)))
        .put("bbox_normalized", new JsonObject()
            .put("x_center", round((d.x1() + d.x2()) / 2 / width, 6))
            .put("y_center", round((d.y1() + d.y2()) / 2 / height, 6))
            .put("width", round(d.width() / width, 6))
            .put("height", round(d.height() / height, 6)));
  }

  private void writeImages(String jobId, String fileId, List<Detection> detections, Mat image) throws IOException {
    try (PointerScope scope = new PointerScope(); Mat canvas = image.clone()) {
      int thickness = Math.max(2, Math.round(Math.max(canvas.cols(), canvas.rows()) / 600f));
      double fontScale = Math.max(0.5, Math.max(canvas.cols(), canvas.rows()) / 1600.0);
      for (Detection d : detections) {
        Scalar colour = colour(d.classId());
        Point p1 = new Point(Math.round(d.x1()), Math.round(d.y1()));
        Point p2 = new Point(Math.round(d.x2()), Math.round(d.y2()));
        rectangle(canvas, p1, p2, colour, thickness, LINE_AA, 0);
        String label = d.className() + " " + String.format(Locale.ROOT, "%.2f", d.score());
        IntPointer baseline = new IntPointer(1);
        Size text = getTextSize(label, FONT_HERSHEY_SIMPLEX, fontScale, Math.max(1, thickness / 2), baseline);
        int top = Math.max(0, p1.y() - text.height() - 4);
        rectangle(canvas, new Point(p1.x(), top), new Point(p1.x() + text.width() + 4, top + text.height() + 4),
            colour, -1, LINE_AA, 0);
        putText(canvas, label, new Point(p1.x() + 2, top + text.height() + 1), FONT_HERSHEY_SIMPLEX, fontScale,
            new Scalar(255, 255, 255, 0), Math.max(1, thickness / 2), LINE_AA, false);
      }
      jpeg(layout.annotated(jobId, fileId), canvas);
      double scale = Math.min(1.0, (double) thumbnailSize / Math.max(canvas.cols(), canvas.rows()));
      try (Mat thumb = new Mat()) {
        resize(canvas, thumb, new Size(Math.max(1, (int) Math.round(canvas.cols() * scale)),
            Math.max(1, (int) Math.round(canvas.rows() * scale))), 0, 0, INTER_AREA);
        jpeg(layout.thumbnail(jobId, fileId), thumb);
      }
    }
  }

  /** A stable, well-spread colour per class id (golden-ratio hue steps), BGR for OpenCV. */
  static Scalar colour(int classId) {
    float hue = (classId * 0.618034f) % 1f;
    java.awt.Color c = java.awt.Color.getHSBColor(hue, 0.85f, 0.95f);
    return new Scalar(c.getBlue(), c.getGreen(), c.getRed(), 0);
  }

  private void jpeg(Path target, Mat image) throws IOException {
    Files.createDirectories(target.getParent());
    Path partial = target.resolveSibling(target.getFileName() + ".partial.jpg");
    try (IntPointer params = new IntPointer(IMWRITE_JPEG_QUALITY, jpegQuality)) {
      if (!imwrite(partial.toString(), image, params)) {
        throw new IOException("cannot write " + partial);
      }
    }
    Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static void atomically(Path target, byte[] content) throws IOException {
    Files.createDirectories(target.getParent());
    Path partial = target.resolveSibling(target.getFileName() + ".partial");
    Files.write(partial, content);
    Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static double round(double v, int places) {
    double f = Math.pow(10, places);
    return Math.round(v * f) / f;
  }
}
