package io.osprey.auth;

import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
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
  private final java.util.Set<Permission> required;
  private final boolean allowQueryToken;
  private final boolean anonymousAllowed;
  private final java.util.function.Predicate<String> queryTokenPaths;

  public AuthHandler(TokenVerifier verifier, Permission required, boolean allowQueryToken) {
    this(verifier, required == null ? java.util.Set.of() : java.util.Set.of(required), allowQueryToken, false,
        path -> false);
  }

  /** A guard passing holders of any one of {@code anyOf} (and ADM, which may do everything). */
  public static AuthHandler anyOf(TokenVerifier verifier, Permission... anyOf) {
    return new AuthHandler(verifier, java.util.Set.of(anyOf), false, false, path -> false);
  }

  private AuthHandler(TokenVerifier verifier, java.util.Set<Permission> required, boolean allowQueryToken,
                      boolean anonymousAllowed, java.util.function.Predicate<String> queryTokenPaths) {
    this.verifier = verifier;
    this.required = required;
    this.allowQueryToken = allowQueryToken;
    this.anonymousAllowed = anonymousAllowed;
    this.queryTokenPaths = queryTokenPaths;
  }

  /**
   * A guard that lets callers without a token through as {@code anonymous} but still rejects a bad token: for the
   * detection job API, whose spec defines no authentication, when auth.inference_api is optional. Paths matching
   * {@code queryTokenPaths} (event streams) also take the token as {@code access_token}.
   */
  public static AuthHandler optional(TokenVerifier verifier, java.util.function.Predicate<String> queryTokenPaths) {
    return new AuthHandler(verifier, java.util.Set.of(), false, true, queryTokenPaths);
  }

  /** A guard needing a valid token (no permission in particular) on {@code /api/v1}; query tokens as above. */
  public static AuthHandler required(TokenVerifier verifier, java.util.function.Predicate<String> queryTokenPaths) {
    return new AuthHandler(verifier, java.util.Set.of(), false, false, queryTokenPaths);
  }

  @Override
  public void handle(RoutingContext ctx) {
    String token = bearer(ctx);
    if (token == null && anonymousAllowed) {
      io.osprey.http.CurrentUser.set(ctx, io.osprey.http.CurrentUser.ANONYMOUS, false);
      ctx.next();
      return;
    }
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
      if (!required.isEmpty() && required.stream().noneMatch(caller::has) && !caller.has(Permission.ADM)) {
        String names = required.stream().map(Enum::name).sorted().reduce((a, b) -> a + " or " + b).orElse("");
        Responses.error(ctx, ApiError.of(ErrorCode.FORBIDDEN, "This needs the " + names + " permission"));
        return;
      }
      // The caller travels in the context (CALLER, CurrentUser); Vert.x Web 5 lets only its own authentication
      // handlers set ctx.user() (through an internal API), and nothing here reads it.
      ctx.put(CALLER, caller);
      io.osprey.http.CurrentUser.set(ctx, caller.subject(), caller.has(Permission.ADM));
      ctx.next();
    });
  }

  private String bearer(RoutingContext ctx) {
    String header = ctx.request().getHeader("Authorization");
    if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      String t = header.substring(7).strip();
      return t.isEmpty() ? null : t;
    }
    // Event streams are read by browsers' EventSource, which cannot send headers: their routes also take the token
    // as a query parameter (never logged: the access log writes paths only).
    if (allowQueryToken || queryTokenPaths.test(ctx.request().path())) {
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
