package io.osprey.cli;

import io.vertx.core.json.JsonObject;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "export", description = {"Export annotations as a training dataset (GET /annotations/export): a zip"
    + " in YOLO (Ultralytics), COCO or Pascal VOC layout, images included, streamed to --out with progress.",
    "Example: osprey export --format yolo --status Validated --split 0.8 --seed 1 --out ds.zip"})
final class ExportCommand implements Callable<Integer> {
  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Option(names = "--format", required = true, description = "yolo, coco or voc.") String format;
  @Option(names = {"-o", "--out"}, required = true, description = "The zip to write (replaced once complete).")
  Path out;
  @Option(names = "--status", description = "Statuses, comma-separated (Validated; default: all but Deleted).")
  String status;
  @Option(names = "--flight") String flight;
  @Option(names = "--waypoint") String waypoint;
  @Option(names = "--media") String media;
  @Option(names = "--source", description = "AI or Manual.") String source;
  @Option(names = "--from", description = "Created at or after (ISO-8601).") String from;
  @Option(names = "--to", description = "Created before (ISO-8601).") String to;
  @Option(names = "--created-by") String createdBy;
  @Option(names = "--classes", description = "Class numbers or names, comma-separated: only these.") String classes;
  @Option(names = "--split", description = "Share of images in train (0..1, exclusive); the rest is val.")
  String split;
  @Option(names = "--seed", description = "Seed of the split (same seed, same split).") String seed;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      StringBuilder q = new StringBuilder("/annotations/export?format=")
          .append(URLEncoder.encode(format, StandardCharsets.UTF_8));
      add(q, "status", status);
      add(q, "flightId", flight);
      add(q, "waypointId", waypoint);
      add(q, "mediaId", media);
      add(q, "source", source);
      add(q, "from", from);
      add(q, "to", to);
      add(q, "createdBy", createdBy);
      add(q, "classes", classes);
      add(q, "split", split);
      add(q, "seed", seed);
      java.io.PrintWriter err = spec.commandLine().getErr();
      long[] shown = {0};
      String[] selected = {""};
      var headers = root.client().download(q.toString(), out, bytes -> {
        long now = System.nanoTime();
        if (now - shown[0] > 250_000_000L) {
          shown[0] = now;
          err.print("\rexport: " + mib(bytes) + " received");
          err.flush();
        }
      });
      selected[0] = headers.firstValue("X-Export-Images").orElse("?");
      JsonObject manifest;
      try (ZipFile zip = new ZipFile(out.toFile())) {
        ZipEntry entry = zip.getEntry("osprey-export.json");
        manifest = entry == null ? new JsonObject()
            : new JsonObject(new String(zip.getInputStream(entry).readAllBytes(), StandardCharsets.UTF_8));
      }
      err.println("\rexport: " + mib(java.nio.file.Files.size(out)) + " written to " + out + " (" + selected[0]
          + " annotation(s) selected)");
      err.flush();
      if (root.json) {
        root.print(manifest);
        return ApiClient.OK;
      }
      JsonObject splits = manifest.getJsonObject("splits", new JsonObject());
      for (String s : splits.fieldNames()) {
        JsonObject c = splits.getJsonObject(s);
        root.out().println(s + ": " + c.getValue("images") + " image(s), " + c.getValue("annotations") + " box(es)");
      }
      int missing = manifest.getJsonArray("missingImages", new io.vertx.core.json.JsonArray()).size();
      if (missing > 0) {
        root.out().println(missing + " annotation(s) left out: image file missing (see osprey-export.json)");
      }
      root.out().flush();
      return ApiClient.OK;
    });
  }

  private static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
  }

  private static void add(StringBuilder q, String name, String value) {
    if (value != null) {
      q.append('&').append(name).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
    }
  }
}
