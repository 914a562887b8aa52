package io.osprey.jobs;

import io.osprey.storage.StorageLayout;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;

/**
 * A completed job written straight into a test service's database and storage, the way the runner leaves one, so
 * export tests can use many images without running a model on each.
 */
final class StoredJobs {
  private StoredJobs() {
  }

  /** One image of a stored job: its ids, name and the result files the exports read. */
  record Image(String fileId, String filename, int width, int height, Path predictions, Path detections) {
  }

  record Job(String jobId, List<Image> images) {
  }

  /** What one image's result files hold; {@code suppressed} null for none. */
  record Content(String predictions, JsonArray detections, JsonArray suppressed) {
  }

  interface Contents {
    Content of(int index, String filename);
  }

  static Job insert(TestService service, String jobId, List<String> filenames, Contents contents) throws Exception {
    StorageLayout layout = new StorageLayout(service.storage());
    String uploadId = UUID.nameUUIDFromBytes((jobId + "/upload").getBytes(StandardCharsets.UTF_8)).toString();
    List<Image> images = new ArrayList<>();
    Timestamp created = Timestamp.from(Instant.parse("2026-01-02T03:04:05.678Z"));
    Timestamp completed = Timestamp.from(Instant.parse("2026-01-02T03:05:06.789Z"));
    try (Connection c = service.jdbc()) {
      c.setAutoCommit(false);
      try (PreparedStatement s = c.prepareStatement("INSERT INTO uploads (upload_id, user_id, file_count,"
          + " total_bytes) VALUES (?::uuid, 'anonymous', ?, 1)")) {
        s.setString(1, uploadId);
        s.setInt(2, Math.max(1, filenames.size())); // an upload holds at least one file
        s.executeUpdate();
      }
      List<String> fileIds = new ArrayList<>();
      try (PreparedStatement s = c.prepareStatement("INSERT INTO uploaded_files (file_id, upload_id, position,"
          + " filename, size_bytes, width, height, format, storage_path) VALUES (?::uuid, ?::uuid, ?, ?, 1, ?, ?,"
          + " 'JPEG', ?)")) {
        for (int i = 0; i < filenames.size(); i++) {
          String fileId = UUID.nameUUIDFromBytes((jobId + "/" + i).getBytes(StandardCharsets.UTF_8)).toString();
          fileIds.add(fileId);
          s.setString(1, fileId);
          s.setString(2, uploadId);
          s.setInt(3, i);
          s.setString(4, filenames.get(i));
          s.setInt(5, 640 + i);
          s.setInt(6, 480 + i);
          s.setString(7, "uploads/" + uploadId + "/" + fileId + ".jpg");
          s.addBatch();
        }
        s.executeBatch();
      }
      try (PreparedStatement s = c.prepareStatement("INSERT INTO jobs (job_id, user_id, upload_id, file_ids, status,"
          + " config, total_images, processed_images, summary, created_at, started_at, completed_at, updated_at)"
          + " VALUES (?::uuid, 'anonymous', ?::uuid, ?::uuid[], 'completed', '{}', ?, ?, ?::jsonb, ?, ?, ?, ?)")) {
        s.setString(1, jobId);
        s.setString(2, uploadId);
        s.setArray(3, c.createArrayOf("uuid", fileIds.toArray()));
        s.setInt(4, filenames.size());
        s.setInt(5, filenames.size());
        s.setString(6, new JsonObject().put("total_detections", 7).put("average_confidence", 0.61)
            .put("processing_time_seconds", 3).encode());
        s.setTimestamp(7, created);
        s.setTimestamp(8, created);
        s.setTimestamp(9, completed);
        s.setTimestamp(10, completed);
        s.executeUpdate();
      }
      try (PreparedStatement s = c.prepareStatement("INSERT INTO job_results (job_id, file_id, position,"
          + " detection_count, mean_confidence, annotated) VALUES (?::uuid, ?::uuid, ?, ?, 0.5, false)")) {
        for (int i = 0; i < filenames.size(); i++) {
          String fileId = fileIds.get(i);
          Content content = contents.of(i, filenames.get(i));
          Path predictions = layout.predictions(jobId, fileId);
          Path detections = layout.detections(jobId, fileId);
          write(predictions, content.predictions().getBytes(StandardCharsets.UTF_8));
          write(detections, content.detections().encode().getBytes(StandardCharsets.UTF_8));
          if (content.suppressed() != null) {
            write(layout.suppressed(jobId, fileId), content.suppressed().encode().getBytes(StandardCharsets.UTF_8));
          }
          images.add(new Image(fileId, filenames.get(i), 640 + i, 480 + i, predictions, detections));
          s.setString(1, jobId);
          s.setString(2, fileId);
          s.setInt(3, i);
          s.setInt(4, content.detections().size());
          s.addBatch();
        }
        s.executeBatch();
      }
      c.commit();
    }
    return new Job(jobId, images);
  }

  /** Replaces a file whole (a rename), so a reader sees the old or the new content, never half of one. */
  static void write(Path path, byte[] content) throws IOException {
    Files.createDirectories(path.getParent());
    Path partial = path.resolveSibling(path.getFileName() + ".partial");
    Files.write(partial, content);
    Files.move(partial, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Detections shaped as the runner writes them: class, confidence and a pixel box. */
  static JsonArray detections(Random random, int count) {
    String[] names = {"car", "person", "truck", "bicyclette", "voilier ⛵"};
    JsonArray out = new JsonArray();
    for (int i = 0; i < count; i++) {
      int cls = random.nextInt(names.length);
      double x1 = Math.round(random.nextDouble() * 5000) / 10.0;
      double y1 = Math.round(random.nextDouble() * 4000) / 10.0;
      double w = Math.round(random.nextDouble() * 800 + 1) / 10.0;
      double h = Math.round(random.nextDouble() * 800 + 1) / 10.0;
      out.add(new JsonObject().put("class_id", cls * 2).put("class_name", names[cls])
          .put("confidence", Math.round(random.nextDouble() * 10000) / 10000.0)
          .put("bbox", new JsonObject().put("x1", x1).put("y1", y1).put("x2", x1 + w).put("y2", y1 + h)
              .put("width", w).put("height", h)));
    }
    return out;
  }

  /** YOLO lines for those detections (their values need not match for the exports, which copy them). */
  static String yoloLines(JsonArray detections) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < detections.size(); i++) {
      JsonObject d = detections.getJsonObject(i);
      b.append(d.getInteger("class_id")).append(" 0.5 0.5 0.1 0.1 ").append(d.getDouble("confidence")).append('\n');
    }
    return b.toString();
  }
}
