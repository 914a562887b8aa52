package io.osprey.auth;

import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
import io.osprey.http.CurrentUser;
import io.osprey.http.Responses;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authorization.OrAuthorization;
import io.vertx.ext.auth.authorization.PermissionBasedAuthorization;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.APIKeyHandler;
import io.vertx.ext.web.handler.AuthenticationHandler;
import io.vertx.ext.web.handler.AuthorizationHandler;
import io.vertx.ext.web.handler.HttpException;
import io.vertx.ext.web.handler.JWTAuthHandler;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Route guard: a verified token with the required permission, or 401 (no, bad or expired token) / 403 (valid token,
 * missing permission) in the service's error shape, before any work. On event-stream routes the token may come as
 * the {@code access_token} query parameter, since browsers' EventSource cannot send headers.
 *
 * <p>vertx-web does the work: {@link JWTAuthHandler} takes the bearer token, {@link APIKeyHandler} the query
 * parameter, both authenticate with the {@link TokenVerifier}, and {@link AuthorizationHandler} checks the
 * permission ({@link PermissionBasedAuthorization}s granted by {@link PermissionsClaim}; ADM passes every check). What
 * is ours: picking the handler for the credential the request carries (so a refusal names the token's fault), letting
 * callers without one through as {@code anonymous} where the route allows it, and answering the handlers' failures
 * (plain-text or empty 400/401/403 by default) in the one error shape with {@code WWW-Authenticate}.
 */
public final class AuthHandler {
  public static final String CALLER = "osprey.caller";
  /** Set while this request is between the guard's first step and its last: failures then are the guard's. */
  private static final String GUARDING = "osprey.auth.guarding";
  private static final String QUERY_TOKEN = "access_token";
  private static final PermissionsClaim PERMISSIONS = new PermissionsClaim();

  private final Set<Permission> required;
  private final boolean anonymousAllowed;
  private final Predicate<String> queryTokenPaths;
  private final JWTAuthHandler bearer;
  private final APIKeyHandler queryToken;
  private final AuthorizationHandler authorization;
  /** The first step, of vertx-web's authentication kind (a route orders its handlers by kind): see authenticate. */
  private final AuthenticationHandler dispatch = this::authenticate;

  public AuthHandler(TokenVerifier verifier, Permission required, boolean allowQueryToken) {
    this(verifier, required == null ? Set.of() : Set.of(required), allowQueryToken, false, path -> false);
  }

  /** A guard passing holders of any one of {@code anyOf} (and ADM, which may do everything). */
  public static AuthHandler anyOf(TokenVerifier verifier, Permission... anyOf) {
    return new AuthHandler(verifier, Set.of(anyOf), false, false, path -> false);
  }

  private AuthHandler(TokenVerifier verifier, Set<Permission> required, boolean allowQueryToken,
                      boolean anonymousAllowed, Predicate<String> queryTokenPaths) {
    this.required = required;
    this.anonymousAllowed = anonymousAllowed;
    this.queryTokenPaths = allowQueryToken ? path -> true : queryTokenPaths;
    this.bearer = JWTAuthHandler.create(verifier); // no realm: WWW-Authenticate is written with the error below
    this.queryToken = APIKeyHandler.create(verifier).parameter(QUERY_TOKEN);
    if (required.isEmpty()) {
      this.authorization = null;
    } else {
      OrAuthorization any = OrAuthorization.create();
      Set<Permission> passing = EnumSet.copyOf(required);
      passing.add(Permission.ADM);
      passing.forEach(p -> any.addAuthorization(PermissionBasedAuthorization.create(p.name())));
      this.authorization = AuthorizationHandler.create(any).addAuthorizationProvider(PERMISSIONS);
    }
  }

  /**
   * A guard that lets callers without a token through as {@code anonymous} but still rejects a bad token: for the
   * detection job API, whose spec defines no authentication, when auth.inference_api is optional. Paths matching
   * {@code queryTokenPaths} (event streams) also take the token as {@code access_token}.
   */
  public static AuthHandler optional(TokenVerifier verifier, Predicate<String> queryTokenPaths) {
    return new AuthHandler(verifier, Set.of(), false, true, queryTokenPaths);
  }

  /** A guard needing a valid token (no permission in particular) on {@code /api/v1}; query tokens as above. */
  public static AuthHandler required(TokenVerifier verifier, Predicate<String> queryTokenPaths) {
    return new AuthHandler(verifier, Set.of(), false, false, queryTokenPaths);
  }

  /**
   * Puts the guard in front of {@code route}'s own handlers (add them to the returned route): authentication,
   * authorization, then the caller recorded for the handlers ({@link CurrentUser}, {@link #caller}).
   */
  public Route guard(Route route) {
    // vertx-web orders a route's handlers by kind: authentication, then authorization, then the route's own.
    route.handler(dispatch);
    if (authorization != null) {
      route.handler(authorization);
    }
    return route.handler(this::admit).failureHandler(this::refuse);
  }

  /** Hands the request to the library handler for the credential it carries, or lets an anonymous caller on. */
  private void authenticate(RoutingContext ctx) {
    ctx.put(GUARDING, Boolean.TRUE);
    String header = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
    boolean bearerHeader = header != null && header.regionMatches(true, 0, "Bearer", 0, 6);
    // Event streams are read by browsers' EventSource, which cannot send headers: their routes also take the token
    // as a query parameter (never logged: the access log writes paths only). A Bearer header, when sent, comes first.
    if (!bearerHeader && queryTokenPaths.test(ctx.request().path())) {
      String query = ctx.request().getParam(QUERY_TOKEN);
      if (query != null && !query.isBlank()) {
        queryToken.handle(ctx);
        return;
      }
    }
    // Where tokens are optional, only a Bearer credential is a token: another scheme (a proxy's Basic) is not ours.
    if (anonymousAllowed && !bearerHeader) {
      ctx.next();
      return;
    }
    bearer.handle(ctx);
  }

  private void admit(RoutingContext ctx) {
    User user = ctx.user();
    if (user == null && !anonymousAllowed) {
      // vertx-web's authentication handlers pass a CORS preflight on unauthenticated (browsers send no token with
      // it); a guarded route still needs a user unless it admits anonymous callers.
      ctx.fail(401, new HttpException(401));
      return;
    }
    ctx.remove(GUARDING);
    if (user == null) {
      CurrentUser.set(ctx, CurrentUser.ANONYMOUS, false);
    } else {
      TokenVerifier.Caller caller = TokenVerifier.Caller.of(user);
      ctx.put(CALLER, caller);
      CurrentUser.set(ctx, caller.subject(), caller.has(Permission.ADM));
    }
    ctx.next();
  }

  /** The guard's refusals in the error shape; any other failure goes on to the router's error handlers. */
  private void refuse(RoutingContext ctx) {
    if (ctx.remove(GUARDING) == null) {
      ctx.next();
      return;
    }
    Throwable failure = ctx.failure();
    int status = failure instanceof HttpException http ? http.getStatusCode() : ctx.statusCode();
    if (status == 403 && ctx.user() == null) {
      status = 401; // AuthorizationHandler's answer to a request without a user (a preflight, see admit)
    }
    if (status == 403) {
      String names = required.stream().map(Enum::name).sorted().reduce((a, b) -> a + " or " + b).orElse("");
      Responses.error(ctx, ApiError.of(ErrorCode.FORBIDDEN, "This needs the " + names + " permission"));
    } else if (status == 401 || status == 400) {
      String problem = tokenProblem(failure, status);
      if (problem == null) {
        ctx.response().putHeader("WWW-Authenticate", "Bearer");
        Responses.error(ctx, ApiError.of(ErrorCode.UNAUTHORIZED, "Send Authorization: Bearer <token>"));
      } else {
        ctx.response().putHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        Responses.error(ctx, ApiError.of(ErrorCode.UNAUTHORIZED, "Invalid token: " + problem));
      }
    } else {
      ctx.next();
    }
  }

  /**
   * What is wrong with the token sent, or null when none was: the verifier's reason (carried as the cause of the
   * handler's 401), or the handler's own for a credential it could not parse (its 400s: "Bearer" alone, characters a
   * JWS cannot hold, too many segments).
   */
  private static String tokenProblem(Throwable failure, int status) {
    if (failure != null && failure.getCause() != null) {
      String reason = failure.getCause().getMessage();
      return reason == null || reason.isBlank() ? "invalid token" : reason;
    }
    if (status == 400) {
      String payload = failure instanceof HttpException http ? http.getPayload() : null;
      return payload == null ? "malformed Authorization header" : payload;
    }
    return null;
  }

  /** The verified caller of this request, or null on unguarded routes and for anonymous callers. */
  public static TokenVerifier.Caller caller(RoutingContext ctx) {
    return ctx.get(CALLER);
  }
}
