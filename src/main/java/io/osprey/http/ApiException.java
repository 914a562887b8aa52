package io.osprey.http;

/** Carries an {@link ApiError} through {@code RoutingContext.fail} to the failure handler. */
public final class ApiException extends RuntimeException {
  private final ApiError error;

  public ApiException(ApiError error) {
    super(error.code() + ": " + error.message(), null, false, false);
    this.error = error;
  }

  public ApiException(ApiError error, Throwable cause) {
    super(error.code() + ": " + error.message(), cause, false, false);
    this.error = error;
  }

  public ApiError error() {
    return error;
  }
}
