package io.osprey.jobs;

import io.osprey.http.PagedExport;
import io.osprey.storage.StorageLayout;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A results format written row by row, so an export is never held whole in memory: what comes before the rows,
 * each row, and what comes after. The output is byte for byte the document the format would encode at once. A
 * format that must know something about every row first (COCO's images precede all annotations; YOLO names a
 * label file by whether its stem repeats) reads the rows more than once. Every method may block (it reads result
 * files): {@link PagedExport} calls them on a worker thread, one at a time, always with the same {@code out}.
 */
abstract class ExportFormat implements PagedExport.Format<JobRepository.ResultRow> {
  final JobRow job;
  final StorageLayout layout;

  ExportFormat(JobRow job, StorageLayout layout) {
    this.job = job;
    this.layout = layout;
  }

  @Override
  public boolean row(int pass, JobRepository.ResultRow row, OutputStream out) throws IOException {
    writeRow(pass, row, out);
    return true;
  }

  /** One row, whole (a job's result files are small). */
  abstract void writeRow(int pass, JobRepository.ResultRow row, OutputStream out) throws IOException;

  JsonArray detections(String fileId) throws IOException {
    return new JsonArray(Files.readString(layout.detections(job.jobId(), fileId)));
  }

  static void write(OutputStream out, String text) throws IOException {
    out.write(text.getBytes(StandardCharsets.UTF_8));
  }

  /** Encoded exactly as the JSON codec encodes it inside a larger document. */
  static void encode(OutputStream out, JsonObject json) throws IOException {
    out.write(json.toBuffer().getBytes());
  }

  static void encode(OutputStream out, JsonArray json) throws IOException {
    out.write(json.toBuffer().getBytes());
  }

  /** {@code {job_id, format, status, summary, results: [...]}} with each image's detections. */
  static final class Json extends ExportFormat {
    private boolean first = true;

    Json(JobRow job, StorageLayout layout) {
      super(job, layout);
    }

    @Override
    public void begin(int pass, OutputStream out) throws IOException {
      Buffer head = new JsonObject().put("job_id", job.jobId()).put("format", "json").put("status", job.status())
          .put("summary", job.summary()).toBuffer();
      // The object without its closing brace, then the results array that follows the summary.
      out.write(head.getBytes(0, head.length() - 1));
      write(out, ",\"results\":[");
    }

    @Override
    void writeRow(int pass, JobRepository.ResultRow r, OutputStream out) throws IOException {
      JsonObject entry = new JsonObject()
          .put("file_id", r.fileId())
          .put("filename", r.filename())
          .put("width", r.width())
          .put("height", r.height())
          .put("detection_count", r.detectionCount())
          .put("detections", detections(r.fileId()));
      Path suppressed = layout.suppressed(job.jobId(), r.fileId());
      if (Files.exists(suppressed)) {
        entry.put("suppressed", new JsonArray(Files.readString(suppressed)));
      }
      if (!first) {
        write(out, ",");
      }
      first = false;
      encode(out, entry);
    }

    @Override
    public void end(OutputStream out) throws IOException {
      write(out, "]}");
    }
  }

  /** COCO detection results: the images (first pass), their annotations (second pass), then the categories. */
  static final class Coco extends ExportFormat {
    private final Map<Integer, String> categories = new TreeMap<>();
    private int image;
    private int annotationId = 1;

    Coco(JobRow job, StorageLayout layout) {
      super(job, layout);
    }

    @Override
    public int passes() {
      return 2;
    }

    @Override
    public void begin(int pass, OutputStream out) throws IOException {
      image = 0;
      if (pass == 0) {
        write(out, "{\"info\":");
        encode(out, new JsonObject().put("description", "Osprey detection job " + job.jobId())
            .put("date_created", JobRow.time(job.completedAt())));
        write(out, ",\"images\":[");
      } else {
        write(out, "],\"annotations\":[");
      }
    }

    @Override
    void writeRow(int pass, JobRepository.ResultRow r, OutputStream out) throws IOException {
      image++;
      if (pass == 0) {
        if (image > 1) {
          write(out, ",");
        }
        encode(out, new JsonObject().put("id", image).put("file_name", r.filename()).put("width", r.width())
            .put("height", r.height()).put("osprey_file_id", r.fileId()));
        return;
      }
      for (Object o : detections(r.fileId())) {
        JsonObject d = (JsonObject) o;
        JsonObject b = d.getJsonObject("bbox");
        int category = d.getInteger("class_id") + 1;
        categories.put(category, d.getString("class_name"));
        if (annotationId > 1) {
          write(out, ",");
        }
        encode(out, new JsonObject().put("id", annotationId++).put("image_id", image)
            .put("category_id", category)
            .put("bbox", new JsonArray().add(b.getDouble("x1")).add(b.getDouble("y1")).add(b.getDouble("width"))
                .add(b.getDouble("height")))
            .put("area", Math.round(b.getDouble("width") * b.getDouble("height") * 10) / 10.0)
            .put("score", d.getDouble("confidence")).put("iscrowd", 0));
      }
    }

    @Override
    public void end(OutputStream out) throws IOException {
      JsonArray cats = new JsonArray();
      categories.forEach((id, name) -> cats.add(new JsonObject().put("id", id).put("name", name)
          .put("supercategory", "object")));
      write(out, "],\"categories\":");
      encode(out, cats);
      write(out, "}");
    }
  }

  /**
   * A zip of {@code labels/<stem>.txt} (the stem plus the file id where two images share it) and
   * {@code classes.txt}. The first pass only counts stems; the second writes the zip.
   */
  static final class Yolo extends ExportFormat {
    private final Map<String, Integer> stems = new HashMap<>();
    private final Map<Integer, String> names = new TreeMap<>();
    private ZipOutputStream zip;

    Yolo(JobRow job, StorageLayout layout) {
      super(job, layout);
    }

    @Override
    public int passes() {
      return 2;
    }

    @Override
    public void begin(int pass, OutputStream out) {
      if (pass == 1) {
        zip = new ZipOutputStream(out);
      }
    }

    @Override
    void writeRow(int pass, JobRepository.ResultRow r, OutputStream out) throws IOException {
      String stem = stem(r.filename());
      if (pass == 0) {
        stems.merge(stem, 1, Integer::sum);
        return;
      }
      String name = stems.get(stem) > 1 ? stem + "_" + r.fileId() : stem;
      zip.putNextEntry(new ZipEntry("labels/" + name + ".txt"));
      zip.write(Files.readAllBytes(layout.predictions(job.jobId(), r.fileId())));
      zip.closeEntry();
      for (Object o : detections(r.fileId())) {
        JsonObject d = (JsonObject) o;
        names.put(d.getInteger("class_id"), d.getString("class_name"));
      }
    }

    @Override
    public void end(OutputStream out) throws IOException {
      StringBuilder classes = new StringBuilder();
      names.forEach((id, n) -> classes.append(id).append(' ').append(n).append('\n'));
      zip.putNextEntry(new ZipEntry("classes.txt"));
      zip.write(classes.toString().getBytes(StandardCharsets.UTF_8));
      zip.closeEntry();
      zip.close();
    }

    @Override
    public void abandon() {
      if (zip != null) {
        try {
          zip.close(); // frees the deflater's native memory; what it writes is dropped
        } catch (IOException e) {
          // nothing more to free
        }
      }
    }

    static String stem(String filename) {
      int dot = filename.lastIndexOf('.');
      return (dot > 0 ? filename.substring(0, dot) : filename).replaceAll("[^A-Za-z0-9._-]", "_");
    }
  }
}
