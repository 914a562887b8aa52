package io.osprey.uploads;

import io.vertx.core.json.JsonObject;

/** One accepted file of an upload, as stored and as returned to the client. */
public record StoredFile(String fileId, int position, String filename, long sizeBytes, int width, int height,
                         String format, String storagePath) {

  public JsonObject toJson() {
    return new JsonObject()
        .put("file_id", fileId)
        .put("filename", filename)
        .put("size_bytes", sizeBytes)
        .put("dimensions", new JsonObject().put("width", width).put("height", height))
        .put("format", format)
        .put("storage_path", storagePath);
  }
}
