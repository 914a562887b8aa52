package io.osprey.errors;

/**
 * The stable error codes clients switch on, with their HTTP status and default human message. Codes and messages of
 * the spec's tables are kept verbatim; the rest cover inputs the spec does not name.
 */
public enum ErrorCode {
  INVALID_FORMAT(400, "Only JPEG, PNG, TIFF allowed"),
  FILE_TOO_LARGE(400, "File exceeds 50MB limit"),
  TOO_MANY_FILES(400, "Maximum 100 files per upload"),
  INVALID_DIMENSIONS(400, "Image must be 64x64 to 8192x8192"),
  CORRUPTED_FILE(400, "Unable to read image file"),
  NO_FILES(400, "The upload contains no files"),
  INVALID_CONFIG(400, "Invalid inference configuration"),
  JOB_NOT_FOUND(404, "Job not found"),
  RESULTS_NOT_READY(404, "Results not ready"),
  FILE_NOT_FOUND(404, "File not found"),
  JOB_NOT_CANCELLABLE(409, "The job has already finished"),
  UPLOAD_NOT_FOUND(404, "Upload not found"),
  UPLOAD_IN_USE(409, "A queued or processing job uses this upload"),
  RATE_LIMIT_EXCEEDED(429, "Rate limited"),
  TOO_MANY_EXPORTS(429, "Too many dataset exports at once; retry when one has finished"),
  INVALID_REQUEST(400, "The request is malformed"),
  MALFORMED_REQUEST(400, "The request body could not be decoded"),
  ANNOTATION_NOT_FOUND(404, "Annotation not found"),
  MEDIA_NOT_FOUND(404, "Media not found"),
  CLASS_NOT_FOUND(404, "Detection class not found"),
  ANNOTATION_EXISTS(409, "An annotation of this image already exists"),
  CLASS_EXISTS(409, "A detection class with this id or name already exists"),
  CLASS_IN_USE(409, "The detection class is used by annotations"),
  /** GET /annotations/export selected no annotation: an empty dataset is never sent as a zip. */
  EXPORT_EMPTY(404, "No annotation matches the export's filters"),
  UNAUTHORIZED(401, "Authentication required"),
  FORBIDDEN(403, "Permission denied"),
  ORIGIN_NOT_ALLOWED(403, "This origin may not call the service (http.cors_origins)"),
  NOT_FOUND(404, "No such resource"),
  METHOD_NOT_ALLOWED(405, "Method not allowed on this resource"),
  PAYLOAD_TOO_LARGE(413, "The request body is too large"),
  URI_TOO_LONG(414, "The request line is too long"),
  HEADERS_TOO_LARGE(431, "The request headers are too large"),
  UNSUPPORTED_MEDIA_TYPE(415, "Unsupported content type"),
  STORAGE_ERROR(500, "Server storage unavailable"),
  DATABASE_ERROR(500, "Unable to save metadata"),
  INTERNAL_ERROR(500, "Internal server error"),
  SERVICE_UNAVAILABLE(503, "Service temporarily unavailable"),
  /** PostgreSQL cannot be reached; answered with Retry-After, and the same request succeeds once it is back. */
  DATABASE_UNAVAILABLE(503, "Database temporarily unavailable; retry shortly"),
  /** A server condition (free disk below storage.min_free_bytes), not bad input; retrying later may succeed. */
  INSUFFICIENT_STORAGE(507, "Not enough free storage space; retry later");

  private final int status;
  private final String message;

  ErrorCode(int status, String message) {
    this.status = status;
    this.message = message;
  }

  public int status() {
    return status;
  }

  public String message() {
    return message;
  }
}
