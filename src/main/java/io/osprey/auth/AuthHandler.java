package io.osprey.auth;

import io.osprey.http.ApiError;
import io.osprey.http.ErrorCode;
import io.osprey.http.Responses;
import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;

/**
 * Route guard: a verified bearer token with the required permission, or 401 (no, bad or expired token) / 403
 * (valid token, missing permission) in the service's error shape, before any work. On event-stream routes the
 * token may come as the {@code access_token} query parameter, since browsers' EventSource cannot send headers.
 */
public final class AuthHandler implements Handler<RoutingContext> {
  public static final String CALLER = "osprey.caller";

  private final TokenVerifier verifier;
  private final Permission required;
  private final boolean allowQueryToken;

  public AuthHandler(TokenVerifier verifier, Permission required, boolean allowQueryToken) {
    this.verifier = verifier;
    this.required = required;
    this.allowQueryToken = allowQueryToken;
  }

  @Override
  public void handle(RoutingContext ctx) {
    String token = bearer(ctx);
    if (token == null) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      Responses.error(ctx, ApiError.of(ErrorCode.UNAUTHORIZED, "Send Authorization: Bearer <token>"));
      return;
    }
    ctx.request().pause();
    verifier.verify(token).onComplete(result -> {
      ctx.request().resume();
      if (result.failed()) {
        ctx.response().putHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        Responses.error(ctx, ApiError.of(ErrorCode.UNAUTHORIZED, "Invalid token: " + result.cause().getMessage()));
        return;
      }
      TokenVerifier.Caller caller = result.result();
      if (required != null && !caller.has(required) && !caller.has(Permission.ADM)) {
        Responses.error(ctx, ApiError.of(ErrorCode.FORBIDDEN, "This needs the " + required + " permission"));
        return;
      }
      // Vert.x Web 5 sets the user of a request only through its internal UserContext, as its own handlers do.
      ((io.vertx.ext.web.impl.UserContextInternal) ctx.userContext()).setUser(caller.user());
      ctx.put(CALLER, caller);
      ctx.next();
    });
  }

  private String bearer(RoutingContext ctx) {
    String header = ctx.request().getHeader("Authorization");
    if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      String t = header.substring(7).strip();
      return t.isEmpty() ? null : t;
    }
    if (allowQueryToken) {
      String q = ctx.request().getParam("access_token");
      return q == null || q.isBlank() ? null : q.strip();
    }
    return null;
  }

  /** The verified caller of this request, or null on unguarded routes. */
  public static TokenVerifier.Caller caller(RoutingContext ctx) {
    return ctx.get(CALLER);
  }
}
