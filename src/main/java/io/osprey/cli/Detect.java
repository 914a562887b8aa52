package io.osprey.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "detect", description = {"Upload images (files, folders, globs; 100 per upload), start a detection"
    + " job per upload, and with --wait follow each to its end (live progress from the job's event stream, polling"
    + " when that is unavailable); with --out download results and annotated images."})
final class Detect implements Callable<Integer> {
  static final int PER_UPLOAD = 100;

  @ParentCommand
  OspreyCli root;
  @Spec
  CommandLine.Model.CommandSpec spec;

  @Parameters(paramLabel = "IMAGES", arity = "1..*", description = "Image files, folders or globs (quoted).")
  List<String> inputs;

  @Option(names = "--model", description = "Model name (default: the service's default).")
  String model;

  @Option(names = "--confidence", description = "Confidence threshold 0..1.")
  Double confidence;

  @Option(names = "--slice", description = "SAHI slice size in pixels (square); 0 = whole image only.")
  Integer slice;

  @Option(names = "--no-visualization", description = "Do not draw annotated images.")
  boolean noVisualization;

  @Option(names = "--wait", description = "Follow each job to its end.")
  boolean await;

  @Option(names = "--out", description = "Download results and annotated images into this folder (implies --wait).")
  Path out;

  @Option(names = "--format", defaultValue = "json", description = "Results format for --out: json, yolo or coco.")
  String format;

  @Override
  public Integer call() {
    return OspreyCli.run(spec, () -> {
      List<Path> images = expand(inputs);
      if (images.isEmpty()) {
        spec.commandLine().getErr().println("osprey: no JPEG, PNG or TIFF images in " + inputs);
        return ApiClient.USAGE;
      }
      ApiClient api = root.client();
      JsonObject config = new JsonObject().put("visualization", !noVisualization);
      if (model != null) {
        config.put("model", model);
      }
      if (confidence != null) {
        config.put("confidence", confidence);
      }
      if (slice != null) {
        config.put("sahi", slice == 0 ? new JsonObject().put("enabled", false)
            : new JsonObject().put("slice_width", slice).put("slice_height", slice));
      }
      JsonArray jobs = new JsonArray();
      for (int i = 0; i < images.size(); i += PER_UPLOAD) {
        List<Path> chunk = images.subList(i, Math.min(images.size(), i + PER_UPLOAD));
        JsonObject upload = api.multipart("/api/v1/inference/upload", "files", chunk, List.of()).json();
        JsonObject job = api.json("POST", "/api/v1/inference/predict", new JsonObject()
            .put("upload_id", upload.getString("upload_id")).put("config", config)).json();
        String jobId = job.getJsonObject("data", job).getString("job_id");
        jobs.add(new JsonObject().put("job_id", jobId).put("upload_id", upload.getString("upload_id"))
            .put("images", chunk.size()));
        if (!root.json) {
          root.out().println("job " + jobId + ": " + chunk.size() + " image(s) queued");
          root.out().flush();
        }
      }
      int exit = ApiClient.OK;
      if (await || out != null) {
        for (Object o : jobs) {
          JsonObject j = (JsonObject) o;
          JsonObject last = follow(api, j.getString("job_id"));
          j.put("status", last.getString("status")).put("summary", last.getValue("summary"))
              .put("error", last.getValue("error"));
          if (!"completed".equals(last.getString("status"))) {
            exit = ApiClient.JOB_FAILED;
          } else if (out != null) {
            download(api, j);
          }
          if (!root.json) {
            root.out().println(describe(last));
            root.out().flush();
          }
        }
      }
      if (root.json) {
        root.print(new JsonObject().put("jobs", jobs));
      }
      return exit;
    });
  }

  /** Files, folders (their images) and globs such as "shots/*.jpg", in a stable order. */
  static List<Path> expand(List<String> inputs) throws IOException {
    List<Path> out = new ArrayList<>();
    for (String in : inputs) {
      Path p = Path.of(in);
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          s.filter(Detect::isImage).sorted().forEach(out::add);
        }
      } else if (in.contains("*") || in.contains("?") || in.contains("[")) {
        Path dir = p.getParent() == null ? Path.of(".") : p.getParent();
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + p.getFileName());
        try (Stream<Path> s = Files.list(dir)) {
          s.filter(f -> m.matches(f.getFileName()) && Files.isRegularFile(f)).sorted().forEach(out::add);
        }
      } else if (Files.isRegularFile(p)) {
        out.add(p);
      } else {
        throw new IOException("no such file: " + in);
      }
    }
    return out;
  }

  static boolean isImage(Path p) {
    String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
    return Files.isRegularFile(p) && (n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".png")
        || n.endsWith(".tif") || n.endsWith(".tiff"));
  }

  /** The job's final status: from its event stream, or by polling if the stream is unavailable. */
  private JsonObject follow(ApiClient api, String jobId) throws InterruptedException {
    JsonObject[] last = new JsonObject[1];
    try {
      api.events("/api/v1/jobs/" + jobId + "/events", (type, data) -> {
        if (!type.equals("status")) {
          return true; // a control frame (auth expiry, slow consumer): the stream ends, polling takes over
        }
        last[0] = new JsonObject(data);
        progress(last[0]);
        return !List.of("completed", "failed", "cancelled").contains(last[0].getString("status"));
      });
    } catch (ApiClient.Failure f) {
      if (f.exit() == ApiClient.NOT_FOUND || f.exit() == ApiClient.AUTH) {
        throw f;
      }
      // fall back to polling below
    }
    while (last[0] == null || !List.of("completed", "failed", "cancelled").contains(last[0].getString("status"))) {
      last[0] = api.get("/api/v1/jobs/" + jobId + "/status").json();
      progress(last[0]);
      if (!List.of("completed", "failed", "cancelled").contains(last[0].getString("status"))) {
        Thread.sleep(1000);
      }
    }
    if (!root.json) {
      spec.commandLine().getErr().println();
    }
    return last[0];
  }

  private void progress(JsonObject status) {
    if (root.json) {
      return;
    }
    JsonObject p = status.getJsonObject("progress", new JsonObject());
    int total = p.getInteger("total_images", 0);
    int done = p.getInteger("processed_images", 0);
    int pct = p.getInteger("percentage", 0);
    int width = 30;
    int filled = Math.min(width, pct * width / 100);
    spec.commandLine().getErr().print("\r" + status.getString("job_id", "") + " [" + "#".repeat(filled)
        + ".".repeat(width - filled) + "] " + done + "/" + total + " " + status.getString("status"));
    spec.commandLine().getErr().flush();
  }

  private void download(ApiClient api, JsonObject job) throws IOException {
    String jobId = job.getString("job_id");
    Files.createDirectories(out);
    String ext = switch (format) {
      case "yolo" -> ".zip";
      case "coco" -> ".coco.json";
      default -> ".json";
    };
    Path results = out.resolve(jobId + ext);
    Files.write(results, api.get("/api/v1/jobs/" + jobId + "/results?format=" + format).body());
    job.put("results_file", results.toString());
    if (!noVisualization) {
      JsonObject vis = api.get("/api/v1/jobs/" + jobId + "/visualization").json();
      Path dir = out.resolve(jobId).resolve("annotated");
      Files.createDirectories(dir);
      int n = 0;
      for (Object o : OspreyCli.array(vis, "visualizations")) {
        JsonObject v = (JsonObject) o;
        if (v.getString("annotated_url") != null) {
          String name = v.getString("file_id") + "-" + Path.of(v.getString("filename")).getFileName();
          Files.write(dir.resolve(name), api.get(v.getString("annotated_url")).body());
          n++;
        }
      }
      job.put("annotated_images", n).put("annotated_dir", dir.toString());
    }
  }

  static String describe(JsonObject s) {
    String status = s.getString("status");
    StringBuilder sb = new StringBuilder("job " + s.getString("job_id") + ": " + status);
    JsonObject p = s.getJsonObject("progress");
    if (p != null) {
      sb.append(", ").append(p.getValue("processed_images")).append('/').append(p.getValue("total_images"))
          .append(" images");
      if (p.getString("current_stage") != null) {
        sb.append(" (").append(p.getString("current_stage")).append(')');
      }
    }
    JsonObject summary = s.getJsonObject("summary");
    if (summary != null) {
      sb.append(", ").append(summary.getValue("total_detections")).append(" detection(s), mean confidence ")
          .append(summary.getValue("average_confidence"));
    }
    JsonObject error = s.getJsonObject("error");
    if (error != null) {
      sb.append(", ").append(error.getString("code")).append(": ").append(error.getString("message"));
    }
    return sb.toString();
  }
}
