package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** Writes JSON bodies and errors, always with the request id. */
public final class Responses {
  private Responses() {
  }

  public static void json(RoutingContext ctx, int status, JsonObject body) {
    if (ctx.response().ended() || ctx.response().closed()) {
      return;
    }
    ctx.response()
        .setStatusCode(status)
        .putHeader("Content-Type", "application/json; charset=utf-8")
        .end(body.encode());
  }

  public static void error(RoutingContext ctx, ApiError error) {
    if (error.code() == ErrorCode.DATABASE_UNAVAILABLE && !ctx.response().headWritten()) {
      ctx.response().putHeader("Retry-After", Integer.toString(DatabaseErrors.RETRY_AFTER_SECONDS));
    }
    json(ctx, error.status(), error.toJson(RequestIds.of(ctx)));
  }
}
