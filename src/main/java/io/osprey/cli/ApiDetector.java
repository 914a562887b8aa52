package io.osprey.cli;

import io.osprey.eval.Detector;
import io.osprey.eval.SahiConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Detection through a running service: the images are uploaded once (100 per upload), then each configuration is
 * one predict per upload, followed until it ends, and its JSON results read back. The service rounds boxes to 0.1 px
 * and scores to 4 decimals, so numbers can differ from {@code --local} in the last digits.
 */
final class ApiDetector implements Detector {
  private final ApiClient api;
  private final String model;
  private final Path classNamesFile;
  private final java.io.PrintWriter err;
  /** Upload id → (file id → ground-truth image id), filled on first use. */
  private final Map<String, Map<String, Long>> uploads = new LinkedHashMap<>();

  ApiDetector(ApiClient api, String model, Path classNamesFile, java.io.PrintWriter err) {
    this.api = api;
    this.model = model;
    this.classNamesFile = classNamesFile;
    this.err = err;
  }

  @Override
  public Map<Long, List<Found>> detect(List<ImageFile> images, SahiConfig config) throws Exception {
    if (uploads.isEmpty()) {
      upload(images);
    }
    Map<Long, List<Found>> out = new LinkedHashMap<>();
    images.forEach(i -> out.put(i.imageId(), new ArrayList<>()));
    for (Map.Entry<String, Map<String, Long>> upload : uploads.entrySet()) {
      JsonObject body = new JsonObject().put("upload_id", upload.getKey()).put("config", config(config));
      JsonObject job = api.json("POST", "/api/v1/inference/predict", body).json();
      String jobId = job.getJsonObject("data", job).getString("job_id");
      JsonObject status = await(jobId);
      if (!"completed".equals(status.getString("status"))) {
        throw new ApiClient.Failure(ApiClient.JOB_FAILED, null, "job " + jobId + " (" + config.label() + ") "
            + status.getString("status") + ": " + status.getValue("error"));
      }
      JsonObject results = api.get("/api/v1/jobs/" + jobId + "/results?format=json").json();
      for (Object o : OspreyCli.array(results, "results")) {
        JsonObject r = (JsonObject) o;
        Long imageId = upload.getValue().get(r.getString("file_id"));
        if (imageId == null) {
          continue;
        }
        for (Object d : OspreyCli.array(r, "detections")) {
          JsonObject det = (JsonObject) d;
          JsonObject b = det.getJsonObject("bbox");
          out.get(imageId).add(new Found(det.getString("class_name"), det.getDouble("confidence"),
              b.getDouble("x1"), b.getDouble("y1"), b.getDouble("x2"), b.getDouble("y2")));
        }
      }
    }
    return out;
  }

  private void upload(List<ImageFile> images) {
    for (int i = 0; i < images.size(); i += Detect.PER_UPLOAD) {
      List<ImageFile> chunk = images.subList(i, Math.min(images.size(), i + Detect.PER_UPLOAD));
      JsonObject reply = api.multipart("/api/v1/inference/upload", "files",
          chunk.stream().map(ImageFile::file).toList(), List.of()).json();
      JsonArray files = OspreyCli.array(reply, "files");
      if (files.size() != chunk.size()) {
        throw new ApiClient.Failure(ApiClient.SERVER, null, "upload stored " + files.size() + " of " + chunk.size()
            + " files");
      }
      Map<String, Long> ids = new HashMap<>();
      for (int f = 0; f < files.size(); f++) {
        JsonObject file = files.getJsonObject(f);
        String sent = chunk.get(f).file().getFileName().toString();
        if (!sent.equals(file.getString("filename"))) {
          throw new ApiClient.Failure(ApiClient.SERVER, null, "upload answered files in another order ("
              + file.getString("filename") + " where " + sent + " was sent)");
        }
        ids.put(file.getString("file_id"), chunk.get(f).imageId());
      }
      uploads.put(reply.getString("upload_id"), ids);
    }
  }

  /** The predict request's config for one configuration (the service's own SAHI names). */
  JsonObject config(SahiConfig c) {
    JsonObject sahi = new JsonObject().put("enabled", c.sliced());
    if (c.sliced()) {
      sahi.put("slice_width", c.sliceWidth()).put("slice_height", c.sliceHeight())
          .put("overlap_width_ratio", c.overlapWidthRatio()).put("overlap_height_ratio", c.overlapHeightRatio())
          .put("perform_standard_pred", c.performStandardPred()).put("postprocess_type", c.postprocessType())
          .put("postprocess_match_metric", c.matchMetric()).put("postprocess_match_threshold", c.matchThreshold())
          .put("postprocess_class_agnostic", c.classAgnostic());
    }
    JsonObject config = new JsonObject().put("confidence", c.confidence()).put("visualization", false)
        .put("sahi", sahi);
    if (model != null) {
      config.put("model", model);
    }
    return config;
  }

  private JsonObject await(String jobId) throws InterruptedException {
    while (true) {
      JsonObject s = api.get("/api/v1/jobs/" + jobId + "/status").json();
      if (List.of("completed", "failed", "cancelled").contains(s.getString("status"))) {
        return s;
      }
      Thread.sleep(500); // polling a job's status; the CLI's detect does the same when events are unavailable
    }
  }

  @Override
  public List<String> classNames() throws IOException {
    if (classNamesFile == null) {
      err.println("osprey: no --class-names given: the ground truth's category names are not checked against the"
          + " model's classes");
      err.flush();
      return null;
    }
    return Files.readAllLines(classNamesFile).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
  }

  @Override
  public String where() {
    return api.base();
  }
}
