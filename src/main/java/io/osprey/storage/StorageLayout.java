package io.osprey.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where files live under the storage root. Every path the service writes is built here from ids it generated
 * itself, never from client-supplied names, so nothing a client sends can point outside the root.
 */
public final class StorageLayout {
  private final Path root;

  public StorageLayout(Path root) {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  /** Partial uploads are received here; same file system as the final folders, so moves are renames. */
  public Path tmp() {
    return root.resolve("tmp");
  }

  public Path uploads() {
    return root.resolve("uploads");
  }

  public Path uploadDir(String uploadId) {
    return within(uploads().resolve(uploadId));
  }

  public Path uploadFile(String uploadId, String fileId, String extension) {
    return within(uploadDir(uploadId).resolve(fileId + "." + extension));
  }

  public Path resultsDir(String jobId) {
    return within(root.resolve("results").resolve(jobId));
  }

  /** YOLO lines {@code class cx cy w h conf}, normalised (spec: results/{job_id}/predictions/{file_id}.txt). */
  public Path predictions(String jobId, String fileId) {
    return within(resultsDir(jobId).resolve("predictions").resolve(fileId + ".txt"));
  }

  /** Full detections with class names and pixel boxes, for the JSON and COCO result formats. */
  public Path detections(String jobId, String fileId) {
    return within(resultsDir(jobId).resolve("detections").resolve(fileId + ".json"));
  }

  /** Boxes the rules stage removed, with the rule and reason (only when the stage ran). */
  public Path suppressed(String jobId, String fileId) {
    return within(resultsDir(jobId).resolve("detections").resolve(fileId + ".suppressed.json"));
  }

  public Path annotated(String jobId, String fileId) {
    return within(resultsDir(jobId).resolve("visualizations").resolve(fileId + ".jpg"));
  }

  public Path thumbnail(String jobId, String fileId) {
    return within(resultsDir(jobId).resolve("thumbnails").resolve(fileId + ".jpg"));
  }

  /** An uploaded file from its stored relative path, refusing anything outside the root. */
  public Path stored(String relativePath) {
    return within(root.resolve(relativePath));
  }

  public String relative(Path path) {
    return root.relativize(path).toString();
  }

  /** Creates the root and tmp folders at start, so a storage problem shows then and not at the first upload. */
  public void ensureBaseFolders() throws IOException {
    Files.createDirectories(tmp());
  }

  private Path within(Path path) {
    Path normalized = path.normalize();
    if (!normalized.startsWith(root)) {
      throw new IllegalArgumentException("path escapes the storage root: " + path);
    }
    return normalized;
  }
}
