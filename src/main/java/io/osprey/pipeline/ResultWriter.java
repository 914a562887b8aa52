package io.osprey.pipeline;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.FONT_HERSHEY_SIMPLEX;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.LINE_AA;
import static org.bytedeco.opencv.global.opencv_imgproc.getTextSize;
import static org.bytedeco.opencv.global.opencv_imgproc.putText;
import static org.bytedeco.opencv.global.opencv_imgproc.rectangle;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.osprey.inference.Detection;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 * runs on inference worker threads. The JSON is written with Jackson's streaming generator (the one Vert.x encodes
 * with, so the bytes are those a JsonArray would give), keeping this package free of Vert.x.
 */
public final class ResultWriter {
  private static final JsonFactory JSON = new JsonFactory();
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
    for (Detection d : detections) {
      yolo.append(String.format(Locale.ROOT, "%d %.6f %.6f %.6f %.6f %.6f%n", d.classId(),
          (d.x1() + d.x2()) / 2 / width, (d.y1() + d.y2()) / 2 / height, d.width() / width, d.height() / height,
          d.score()));
    }
    atomically(layout.predictions(jobId, fileId), yolo.toString().getBytes(StandardCharsets.UTF_8));
    atomically(layout.detections(jobId, fileId), json(g -> {
      g.writeStartArray();
      for (int i = 0; i < detections.size(); i++) {
        g.writeStartObject();
        writeFields(g, detections.get(i), width, height);
        if (rules != null) {
          g.writeArrayFieldStart("rules");
          for (RulesStage.Note n : rules.notes().get(i)) {
            g.writeStartObject();
            g.writeStringField("rule_set", rules.ruleSet());
            g.writeStringField("action", n.action());
            g.writeFieldName("from");
            value(g, n.from());
            g.writeFieldName("to");
            value(g, n.to());
            g.writeEndObject();
          }
          g.writeEndArray();
        }
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
    if (rules != null) {
      atomically(layout.suppressed(jobId, fileId), json(g -> {
        g.writeStartArray();
        for (int i = 0; i < rules.suppressed().size(); i++) {
          g.writeStartObject();
          writeFields(g, rules.suppressed().get(i), width, height);
          g.writeObjectFieldStart("suppressed_by");
          g.writeStringField("rule_set", rules.ruleSet());
          g.writeStringField("reason", rules.suppressedReasons().get(i));
          g.writeEndObject();
          g.writeEndObject();
        }
        g.writeEndArray();
      }));
    }
    if (visualize) {
      writeImages(jobId, fileId, detections, image);
    }
  }

  /**
   * A detection's fields as the results API returns them: class, confidence, pixel box and normalised YOLO box.
   */
  private static void writeFields(JsonGenerator g, Detection d, int width, int height) throws IOException {
    g.writeNumberField("class_id", d.classId());
    g.writeStringField("class_name", d.className());
    g.writeNumberField("confidence", round(d.score(), 4));
    g.writeObjectFieldStart("bbox");
    g.writeNumberField("x1", round(d.x1(), 1));
    g.writeNumberField("y1", round(d.y1(), 1));
    g.writeNumberField("x2", round(d.x2(), 1));
    g.writeNumberField("y2", round(d.y2(), 1));
    g.writeNumberField("width", round(d.width(), 1));
    g.writeNumberField("height", round(d.height(), 1));
    g.writeEndObject();
    g.writeObjectFieldStart("bbox_normalized");
    g.writeNumberField("x_center", round((d.x1() + d.x2()) / 2 / width, 6));
    g.writeNumberField("y_center", round((d.y1() + d.y2()) / 2 / height, 6));
    g.writeNumberField("width", round(d.width() / width, 6));
    g.writeNumberField("height", round(d.height() / height, 6));
    g.writeEndObject();
  }

  /** A rule note's value: what the rules stage puts there (names, scores), or plain JSON structures. */
  private static void value(JsonGenerator g, Object v) throws IOException {
    if (v == null) {
      g.writeNull();
    } else if (v instanceof String s) {
      g.writeString(s);
    } else if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
      g.writeNumber(((Number) v).longValue());
    } else if (v instanceof Float f) {
      g.writeNumber(f);
    } else if (v instanceof Number n) {
      g.writeNumber(n.doubleValue());
    } else if (v instanceof Boolean b) {
      g.writeBoolean(b);
    } else if (v instanceof Map<?, ?> m) {
      g.writeStartObject();
      for (Map.Entry<?, ?> e : m.entrySet()) {
        g.writeFieldName(String.valueOf(e.getKey()));
        value(g, e.getValue());
      }
      g.writeEndObject();
    } else if (v instanceof Iterable<?> items) {
      g.writeStartArray();
      for (Object item : items) {
        value(g, item);
      }
      g.writeEndArray();
    } else {
      g.writeString(v.toString());
    }
  }

  private interface Body {
    void write(JsonGenerator g) throws IOException;
  }

  private static byte[] json(Body body) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.createGenerator(out)) {
      body.write(g);
    }
    return out.toByteArray();
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
