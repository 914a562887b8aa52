package io.osprey.annotations;

import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The filesystem roots of directory_settings (F7), as stored (possibly relative) and resolved against
 * annotations.roots_base. Field names on the wire are those of UpdateDirectoriesRequest.
 */
public record Directories(Map<String, String> stored, Path base) {
  /** Wire field → column, in the order answers list them. */
  public static final Map<String, String> FIELDS = fields();

  private static Map<String, String> fields() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("videosDir", "videos_dir");
    m.put("imagesDir", "images_dir");
    m.put("labelsDir", "labels_dir");
    m.put("thumbnailsDir", "thumbnails_dir");
    m.put("resultsDir", "results_dir");
    m.put("gpsSatDir", "gps_sat_dir");
    m.put("gpsRouteDir", "gps_route_dir");
    return java.util.Collections.unmodifiableMap(m);
  }

  public static Directories fromRow(Row row, Path base) {
    Map<String, String> m = new LinkedHashMap<>();
    FIELDS.forEach((wire, column) -> m.put(wire, row.getString(column)));
    return new Directories(m, base);
  }

  public Path resolve(String wireField) {
    return base.resolve(stored.get(wireField)).toAbsolutePath().normalize();
  }

  public Path images() {
    return resolve("imagesDir");
  }

  public Path labels() {
    return resolve("labelsDir");
  }

  public Path thumbnails() {
    return resolve("thumbnailsDir");
  }

  public Path videos() {
    return resolve("videosDir");
  }

  /** Staged image bytes wait here (same file system as the images, so publishing one is a rename). */
  public Path staging() {
    return images().resolve(".staging");
  }

  /** Thumbnails made before an annotation commits wait here (same file system as the thumbnails). */
  public Path thumbnailStaging() {
    return thumbnails().resolve(".staging");
  }

  public Path image(String id, String extension) {
    return images().resolve(id + "." + extension);
  }

  public Path label(String id) {
    return labels().resolve(id + ".txt");
  }

  public Path thumbnail(String id) {
    return thumbnails().resolve(id + ".jpg");
  }

  public JsonObject toJson() {
    JsonObject o = new JsonObject();
    stored.forEach(o::put);
    return o;
  }
}
