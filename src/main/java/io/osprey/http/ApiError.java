package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;

/**
 * The one error body of the service:
 * <pre>{ "code", "message", "request_id", "details"?, "errors"?: [...], "error": {"code","message","details"?} }</pre>
 * {@code error} repeats code/message/details in the nested form the spec's job status uses, so a client written
 * against either shape reads the same fields. {@code errors} lists per-item problems (one per bad file or field).
 */
public record ApiError(ErrorCode code, String message, JsonObject details, JsonArray errors) {
  /**
   * Most per-item problems listed in one answer. A hostile body can hold tens of thousands of bad fields; listing
   * them all would make the answer many times larger than the request. The rest are counted in {@code errors_total}.
   */
  public static final int MAX_LISTED_ERRORS = 100;

  public static ApiError of(ErrorCode code) {
    return new ApiError(code, code.message(), null, null);
  }

  public static ApiError of(ErrorCode code, String message) {
    return new ApiError(code, message, null, null);
  }

  /**
   * The answer to a service's failure: the one place where a domain exception becomes the error shape (used by
   * {@link HttpVerticle}'s failure handler and by the routes that answer their services' failures themselves).
   */
  public static ApiError of(OspreyException failure) {
    JsonObject details = failure.details().isEmpty() ? null : new JsonObject(new LinkedHashMap<>(failure.details()));
    JsonArray errors = null;
    if (!failure.errors().isEmpty()) {
      errors = new JsonArray();
      for (OspreyException.FieldError e : failure.errors()) {
        errors.add(new JsonObject().put("field", e.field()).put("message", e.message()));
      }
    }
    return new ApiError(failure.code(), failure.reason(), details, errors);
  }

  public ApiError withDetails(JsonObject details) {
    return new ApiError(code, message, details, errors);
  }

  public ApiError withErrors(JsonArray errors) {
    return new ApiError(code, message, details, errors);
  }

  public int status() {
    return code.status();
  }

  public JsonObject toJson(String requestId) {
    JsonObject nested = new JsonObject().put("code", code.name()).put("message", message);
    JsonObject body = new JsonObject().put("code", code.name()).put("message", message).put("request_id", requestId);
    if (details != null) {
      body.put("details", details);
      nested.put("details", details);
    }
    if (errors != null && errors.size() > MAX_LISTED_ERRORS) {
      body.put("errors", new JsonArray(errors.getList().subList(0, MAX_LISTED_ERRORS)))
          .put("errors_total", errors.size());
    } else if (errors != null) {
      body.put("errors", errors);
    }
    return body.put("error", nested);
  }
}
