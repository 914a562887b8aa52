package io.osprey.errors;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A failure that services report to their callers with a stable {@link ErrorCode}: what the client did wrong or what
 * the service cannot do now. Service code throws this, never an HTTP type; the HTTP layer maps it to the one error
 * shape in one place ({@code io.osprey.http.ApiError#of(OspreyException)}), and other callers (the job runner) read
 * the code.
 *
 * <p>{@code details} are the extra facts of the answer (the id that exists already, ...), in order; {@code errors}
 * lists per-field problems. Both may be empty.
 */
public class OspreyException extends RuntimeException {
  private final ErrorCode code;
  private final String reason;
  private final Map<String, Object> details;
  private final List<FieldError> errors;

  public OspreyException(ErrorCode code, String message) {
    this(code, message, Map.of(), List.of(), null);
  }

  public OspreyException(ErrorCode code, String message, Throwable cause) {
    this(code, message, Map.of(), List.of(), cause);
  }

  /** {@code details}: iterated in its own order (use a {@link LinkedHashMap} for several keys). */
  public OspreyException(ErrorCode code, String message, Map<String, ?> details, List<FieldError> errors,
                         Throwable cause) {
    // No stack trace: these are expected answers, and they are created on hot request paths.
    super(code + ": " + message, cause, false, false);
    this.code = code;
    this.reason = message;
    this.details = Collections.unmodifiableMap(new LinkedHashMap<>(details));
    this.errors = List.copyOf(errors);
  }

  /** A single detail, the common case ({@code {"id": ...}}). */
  public static OspreyException of(ErrorCode code, String message, String detailKey, Object detailValue) {
    return new OspreyException(code, message, Map.of(detailKey, detailValue), List.of(), null);
  }

  public ErrorCode code() {
    return code;
  }

  /** The human message of the answer (without the code, unlike {@link #getMessage()}). */
  public String reason() {
    return reason;
  }

  public Map<String, Object> details() {
    return details;
  }

  public List<FieldError> errors() {
    return errors;
  }

  /** One problem of one input field: {@code {"field", "message"}} in the error shape's {@code errors} list. */
  public record FieldError(String field, String message) {
  }
}
