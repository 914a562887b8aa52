package io.osprey.annotations;

import io.osprey.annotations.AnnotationRepository.ExportRow;
import io.osprey.http.PagedExport;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A dataset export (YOLO, COCO or Pascal VOC) written into a zip a row at a time, images included, so neither the
 * rows nor an image is ever held whole: an image is copied {@link #PIECE} bytes per call. Formats that must know
 * something about every row first (COCO's categories, VOC's image lists) read the rows more than once; the rows come
 * from one database snapshot, so every pass sees the same ones. An image file absent when its row is first met is
 * left out everywhere and named in the manifest ({@code osprey-export.json}, the last entry).
 */
abstract class DatasetFormat implements PagedExport.Format<ExportRow> {
  static final int PIECE = 64 * 1024;
  static final String MANIFEST = "osprey-export.json";
  /** data.yaml names every id from 0 up to the largest in use, gaps included, while that is at most this many. */
  static final int MAX_DENSE_CLASSES = 1000;

  /**
   * The train/val assignment: an annotation is in train when a hash of (seed, annotation id) falls below
   * {@code fraction}. It depends on nothing else, so the same seed gives the same split in every export, and an
   * annotation keeps its side when others are added or filtered out. No fraction: everything is train.
   */
  record Split(Double fraction, long seed) {
    List<String> names() {
      return fraction == null ? List.of("train") : List.of("train", "val");
    }

    String of(String id) {
      return fraction == null || bucket(seed, id) < fraction ? "train" : "val";
    }

    /** A uniform number in [0, 1) from SHA-256 of "seed:id". */
    static double bucket(long seed, String id) {
      try {
        byte[] h = MessageDigest.getInstance("SHA-256").digest((seed + ":" + id).getBytes(StandardCharsets.UTF_8));
        long v = 0;
        for (int i = 0; i < 8; i++) {
          v = (v << 8) | (h[i] & 0xff);
        }
        return (v >>> 11) * 0x1.0p-53;
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  final String format;
  final Directories dirs;
  final Split split;
  final Map<Integer, String> catalog;
  final JsonObject filters;
  final Set<String> missing = new HashSet<>();
  final Map<String, int[]> counts = new LinkedHashMap<>();
  /** Classes met in detections, with their names (the catalog's, else the detection's label). */
  final Map<Integer, String> seen = new TreeMap<>();
  ZipOutputStream zip;
  private InputStream copying;
  private String copyingEntry;

  DatasetFormat(String format, Directories dirs, Split split, Map<Integer, String> catalog, JsonObject filters) {
    this.format = format;
    this.dirs = dirs;
    this.split = split;
    this.catalog = catalog;
    this.filters = filters;
    split.names().forEach(s -> counts.put(s, new int[2]));
  }

  static DatasetFormat of(String format, Directories dirs, Split split, Map<Integer, String> catalog,
                          JsonObject filters) {
    return switch (format) {
      case "yolo" -> new Yolo(dirs, split, catalog, filters);
      case "coco" -> new Coco(dirs, split, catalog, filters);
      case "voc" -> new Voc(dirs, split, catalog, filters);
      default -> throw new IllegalArgumentException(format);
    };
  }

  Path image(ExportRow r) {
    return dirs.image(r.id(), r.imageFormat());
  }

  String fileName(ExportRow r) {
    return r.id() + "." + r.imageFormat();
  }

  /** Whether the row's image is there; checked once, when the row is first met, and remembered when absent. */
  boolean present(ExportRow r, boolean firstMeeting) {
    if (missing.contains(r.id())) {
      return false;
    }
    if (firstMeeting && !Files.isRegularFile(image(r))) {
      missing.add(r.id());
      return false;
    }
    return true;
  }

  String className(int cls, String label) {
    String name = catalog.get(cls);
    return name != null ? name : label;
  }

  void see(ExportRow r) {
    for (Detection d : r.detections()) {
      seen.putIfAbsent(d.classNum(), className(d.classNum(), d.label()));
    }
  }

  /** Every class id the export names: the catalog and those met in detections, in id order. */
  Map<Integer, String> allClasses() {
    Map<Integer, String> all = new TreeMap<>(seen);
    all.putAll(catalog);
    return all;
  }

  void counted(String s, ExportRow r) {
    int[] c = counts.get(s);
    c[0]++;
    c[1] += r.detections().size();
  }

  /** Copies a piece of the image into its entry; true once the whole file is in. */
  boolean copyImage(String entry, Path file) throws IOException {
    if (copying == null) {
      copying = Files.newInputStream(file);
      copyingEntry = entry;
      zip.setLevel(Deflater.NO_COMPRESSION); // images are compressed already
      zip.putNextEntry(new ZipEntry(entry));
    }
    byte[] piece = copying.readNBytes(PIECE);
    zip.write(piece);
    if (piece.length < PIECE) {
      copying.close();
      copying = null;
      zip.closeEntry();
      zip.setLevel(Deflater.DEFAULT_COMPRESSION);
      return true;
    }
    return false;
  }

  void text(String entry, String content) throws IOException {
    zip.putNextEntry(new ZipEntry(entry));
    zip.write(content.getBytes(StandardCharsets.UTF_8));
    zip.closeEntry();
  }

  void directory(String entry) throws IOException {
    zip.putNextEntry(new ZipEntry(entry.endsWith("/") ? entry : entry + "/"));
    zip.closeEntry();
  }

  /** The manifest, then the zip's central directory. */
  void finish() throws IOException {
    JsonObject splits = new JsonObject();
    counts.forEach((s, c) -> splits.put(s, new JsonObject().put("images", c[0]).put("annotations", c[1])));
    JsonObject classes = new JsonObject();
    allClasses().forEach((id, name) -> classes.put(Integer.toString(id), name));
    JsonObject manifest = new JsonObject().put("format", format).put("exportedAt", java.time.Instant.now().toString())
        .put("filters", filters).put("split", split.fraction()).put("seed", split.seed()).put("splits", splits)
        .put("classes", classes).put("missingImages", new JsonArray(new ArrayList<>(missing.stream().sorted().toList())));
    text(MANIFEST, manifest.encodePrettily() + "\n");
    zip.finish();
  }

  @Override
  public void abandon() {
    try {
      if (copying != null) {
        copying.close();
      }
    } catch (IOException e) {
      // nothing more to free
    }
    if (zip != null) {
      try {
        zip.close(); // frees the deflater's native memory; what it writes is dropped
      } catch (IOException e) {
        // nothing more to free
      }
    }
  }

  static String fmt(double v) {
    return String.format(Locale.ROOT, "%.6f", v);
  }

  /** A box in pixels, clamped to the image: x1, y1, x2, y2, and whether clamping cut it. */
  static double[] pixels(Detection d, int width, int height) {
    double x1 = (d.centerX() - d.width() / 2) * width;
    double y1 = (d.centerY() - d.height() / 2) * height;
    double x2 = (d.centerX() + d.width() / 2) * width;
    double y2 = (d.centerY() + d.height() / 2) * height;
    double cx1 = Math.max(0, x1);
    double cy1 = Math.max(0, y1);
    double cx2 = Math.min(width, x2);
    double cy2 = Math.min(height, y2);
    boolean cut = cx1 != x1 || cy1 != y1 || cx2 != x2 || cy2 != y2;
    return new double[] {cx1, cy1, cx2, cy2, cut ? 1 : 0};
  }

  static double round3(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  // ------------------------------------------------------------------ YOLO

  /**
   * Ultralytics layout: {@code images/{split}/ID.ext}, {@code labels/{split}/ID.txt} ({@code class cx cy w h},
   * normalised; an image without boxes gets an empty label file, a background image), {@code data.yaml} with every
   * class name in id order (Osprey's class numbers, so a model trained on it predicts them). One pass.
   */
  static final class Yolo extends DatasetFormat {
    private boolean imageDone;

    Yolo(Directories dirs, Split split, Map<Integer, String> catalog, JsonObject filters) {
      super("yolo", dirs, split, catalog, filters);
    }

    @Override
    public void begin(int pass, OutputStream out) throws IOException {
      zip = new ZipOutputStream(out);
      for (String s : split.names()) {
        directory("images/" + s);
        directory("labels/" + s);
      }
    }

    @Override
    public boolean row(int pass, ExportRow r, OutputStream out) throws IOException {
      if (!imageDone && !present(r, true)) {
        return true;
      }
      String s = split.of(r.id());
      if (!imageDone) {
        if (!copyImage("images/" + s + "/" + fileName(r), image(r))) {
          return false;
        }
        imageDone = true;
      }
      StringBuilder labels = new StringBuilder();
      for (Detection d : r.detections()) {
        labels.append(d.classNum()).append(' ').append(fmt(d.centerX())).append(' ').append(fmt(d.centerY()))
            .append(' ').append(fmt(d.width())).append(' ').append(fmt(d.height())).append('\n');
      }
      text("labels/" + s + "/" + r.id() + ".txt", labels.toString());
      see(r);
      counted(s, r);
      imageDone = false;
      return true;
    }

    @Override
    public void end(OutputStream out) throws IOException {
      TreeMap<Integer, String> all = new TreeMap<>(allClasses());
      int nc = all.isEmpty() ? 0 : all.lastKey() + 1;
      StringBuilder yaml = new StringBuilder("# Osprey dataset export, Ultralytics YOLO layout. Class ids are Osprey's"
          + " class numbers; ids\n# missing from the catalog are named class_<id>.\n");
      yaml.append("train: images/train\n");
      yaml.append("val: images/").append(split.fraction() == null ? "train" : "val").append('\n');
      if (nc <= MAX_DENSE_CLASSES) {
        yaml.append("nc: ").append(nc).append('\n');
        yaml.append("names:\n");
        for (int id = 0; id < nc; id++) {
          yaml.append("  ").append(id).append(": ").append(Json.encode(all.getOrDefault(id, "class_" + id)))
              .append('\n');
        }
      } else {
        // A class number far beyond any detector's (detections may carry any): name only the ids in use rather
        // than fill millions of gaps; such a dataset needs its classes renumbered before training.
        yaml.append("# class ids reach ").append(all.lastKey()).append(": only those in use are named\n");
        yaml.append("names:\n");
        all.forEach((id, name) -> yaml.append("  ").append(id).append(": ").append(Json.encode(name)).append('\n'));
      }
      text("data.yaml", yaml.toString());
      finish();
    }
  }

  // ------------------------------------------------------------------ COCO

  /**
   * {@code annotations/instances_{split}.json} and {@code images/{split}/ID.ext}. Ids are stable across exports:
   * an image's id is the annotation's {@code seq}; a box's id is {@code seq * 10000 + index + 1} (an annotation holds
   * at most 10,000 boxes); a category's id is the class number + 1 (COCO's ids start at 1). Passes: a survey (missing
   * images, classes met), then images and annotations of each split, then the image files.
   */
  static final class Coco extends DatasetFormat {
    private boolean first;

    Coco(Directories dirs, Split split, Map<Integer, String> catalog, JsonObject filters) {
      super("coco", dirs, split, catalog, filters);
    }

    @Override
    public int passes() {
      return 2 + 2 * split.names().size();
    }

    private int files() {
      return passes() - 1;
    }

    /** The split a images/annotations pass writes. */
    private String splitOf(int pass) {
      return split.names().get((pass - 1) / 2);
    }

    @Override
    public void begin(int pass, OutputStream out) throws IOException {
      first = true;
      if (pass == 0) {
        zip = new ZipOutputStream(out);
        return;
      }
      if (pass == files()) {
        closeJson();
        return;
      }
      if ((pass - 1) % 2 == 0) {
        if (pass > 1) {
          closeJson();
        }
        String s = splitOf(pass);
        zip.putNextEntry(new ZipEntry("annotations/instances_" + s + ".json"));
        write("{\"info\":");
        write(new JsonObject().put("description", "Osprey dataset export (" + s + ")")
            .put("version", "1.0").put("date_created", java.time.Instant.now().toString()).encode());
        write(",\"licenses\":[],\"images\":[");
      } else {
        write("],\"annotations\":[");
      }
    }

    private void closeJson() throws IOException {
      JsonArray categories = new JsonArray();
      allClasses().forEach((id, name) -> categories.add(new JsonObject().put("id", id + 1).put("name", name)
          .put("supercategory", "object")));
      write("],\"categories\":" + categories.encode() + "}");
      zip.closeEntry();
    }

    private void write(String s) throws IOException {
      zip.write(s.getBytes(StandardCharsets.UTF_8));
    }

    private void separator() throws IOException {
      if (!first) {
        write(",");
      }
      first = false;
    }

    @Override
    public boolean row(int pass, ExportRow r, OutputStream out) throws IOException {
      if (!present(r, pass == 0)) {
        return true;
      }
      String s = split.of(r.id());
      if (pass == 0) {
        see(r);
        return true;
      }
      if (pass == files()) {
        if (!copyImage("images/" + s + "/" + fileName(r), image(r))) {
          return false;
        }
        counted(s, r);
        return true;
      }
      if (!s.equals(splitOf(pass))) {
        return true;
      }
      if ((pass - 1) % 2 == 0) {
        separator();
        write(new JsonObject().put("id", r.seq()).put("file_name", fileName(r)).put("width", r.width())
            .put("height", r.height()).put("osprey_id", r.id()).encode());
        return true;
      }
      for (int i = 0; i < r.detections().size(); i++) {
        Detection d = r.detections().get(i);
        double[] p = pixels(d, r.width(), r.height());
        double x = round3(p[0]);
        double y = round3(p[1]);
        double w = round3(p[2] - p[0]);
        double h = round3(p[3] - p[1]);
        separator();
        write(new JsonObject().put("id", r.seq() * 10_000 + r.indexes().get(i) + 1).put("image_id", r.seq())
            .put("category_id", d.classNum() + 1)
            .put("bbox", new JsonArray().add(x).add(y).add(w).add(h))
            .put("area", round3(w * h))
            .put("segmentation", new JsonArray().add(new JsonArray().add(x).add(y).add(round3(x + w)).add(y)
                .add(round3(x + w)).add(round3(y + h)).add(x).add(round3(y + h))))
            .put("iscrowd", 0).put("score", d.confidence()).encode());
      }
      return true;
    }

    @Override
    public void end(OutputStream out) throws IOException {
      finish();
    }
  }

  // ------------------------------------------------------------------ Pascal VOC

  /**
   * {@code JPEGImages/ID.ext} (whatever the image's format), {@code Annotations/ID.xml} (VOC's 1-based pixel
   * corners; {@code truncated} when the box was cut to the image) and {@code ImageSets/Main/{split}.txt}. Object
   * names are the class names of the catalog. Passes: images and XML, then one image list per split.
   */
  static final class Voc extends DatasetFormat {
    private boolean imageDone;

    Voc(Directories dirs, Split split, Map<Integer, String> catalog, JsonObject filters) {
      super("voc", dirs, split, catalog, filters);
    }

    @Override
    public int passes() {
      return 1 + split.names().size();
    }

    @Override
    public void begin(int pass, OutputStream out) throws IOException {
      if (pass == 0) {
        zip = new ZipOutputStream(out);
        return;
      }
      if (pass > 1) {
        zip.closeEntry();
      }
      zip.putNextEntry(new ZipEntry("ImageSets/Main/" + split.names().get(pass - 1) + ".txt"));
    }

    @Override
    public boolean row(int pass, ExportRow r, OutputStream out) throws IOException {
      if (!imageDone && !present(r, pass == 0)) {
        return true;
      }
      String s = split.of(r.id());
      if (pass > 0) {
        if (s.equals(split.names().get(pass - 1))) {
          zip.write((r.id() + "\n").getBytes(StandardCharsets.UTF_8));
        }
        return true;
      }
      if (!imageDone) {
        if (!copyImage("JPEGImages/" + fileName(r), image(r))) {
          return false;
        }
        imageDone = true;
      }
      text("Annotations/" + r.id() + ".xml", xml(r));
      see(r);
      counted(s, r);
      imageDone = false;
      return true;
    }

    private String xml(ExportRow r) {
      StringBuilder x = new StringBuilder("<annotation>\n  <folder>JPEGImages</folder>\n");
      x.append("  <filename>").append(fileName(r)).append("</filename>\n");
      x.append("  <source><database>Osprey</database></source>\n");
      x.append("  <size><width>").append(r.width()).append("</width><height>").append(r.height())
          .append("</height><depth>3</depth></size>\n  <segmented>0</segmented>\n");
      for (Detection d : r.detections()) {
        double[] p = pixels(d, r.width(), r.height());
        long xmin = Math.min(r.width(), Math.round(p[0]) + 1);
        long ymin = Math.min(r.height(), Math.round(p[1]) + 1);
        long xmax = Math.max(xmin, Math.round(p[2]));
        long ymax = Math.max(ymin, Math.round(p[3]));
        x.append("  <object>\n    <name>").append(escape(className(d.classNum(), d.label()))).append("</name>\n")
            .append("    <pose>Unspecified</pose>\n    <truncated>").append((int) p[4]).append("</truncated>\n")
            .append("    <difficult>0</difficult>\n    <bndbox><xmin>").append(xmin).append("</xmin><ymin>")
            .append(ymin).append("</ymin><xmax>").append(xmax).append("</xmax><ymax>").append(ymax)
            .append("</ymax></bndbox>\n  </object>\n");
      }
      return x.append("</annotation>\n").toString();
    }

    static String escape(String s) {
      return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")
          .replace("'", "&apos;");
    }

    @Override
    public void end(OutputStream out) throws IOException {
      zip.closeEntry();
      finish();
    }
  }
}
