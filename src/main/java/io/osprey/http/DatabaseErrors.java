package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.osprey.storage.DatabaseFailures;

/**
 * The one HTTP answer to a PostgreSQL outage, used by every route: 503 DATABASE_UNAVAILABLE (with Retry-After, set by
 * {@link Responses#error}). Domain code fails with what the client threw; the mapping happens here, at the edge.
 */
public final class DatabaseErrors {
  /** Seconds a client is asked to wait before retrying; the pool reconnects on its next acquisition. */
  public static final int RETRY_AFTER_SECONDS = 5;

  private DatabaseErrors() {
  }

  public static ApiError unavailable() {
    return ApiError.of(ErrorCode.DATABASE_UNAVAILABLE);
  }

  /** The outage answer when {@code failure} is an outage, else {@code otherwise}. */
  public static ApiError map(Throwable failure, ApiError otherwise) {
    return DatabaseFailures.unavailable(failure) ? unavailable() : otherwise;
  }
}
