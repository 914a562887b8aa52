package io.osprey.http;

import io.osprey.config.CorsOrigins;
import io.osprey.errors.ErrorCode;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.CorsHandler;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The browser contract of every route (http.cors_origins): pages of the listed origins may call the REST API and open
 * event streams. The CORS protocol itself is vertx-web's {@link CorsHandler}; this wrapper adds what it lacks:
 * <ul>
 *   <li>a request from the service's own origin (the {@code Origin} host equals the {@code Host} header) passes
 *   untouched, so a same-origin UI keeps working whatever the list says (browsers send {@code Origin} on a
 *   same-origin POST);</li>
 *   <li>a cross-origin request from an origin not listed is refused here with 403 {@code ORIGIN_NOT_ALLOWED} in the
 *   one error shape with {@code X-Request-Id} (CorsHandler would fail the context with a bare 403), preflight
 *   included. Its answer carries no {@code Access-Control-Allow-Origin}, so the page cannot read it anyway.</li>
 * </ul>
 * An empty list mounts nothing: browsers then allow only same-origin pages, the behaviour without CORS. {@code *}
 * allows every origin; that is safe here because the API takes bearer tokens, never cookies, so a foreign page can
 * only act with a token it was given (credentials are never allowed: no {@code Access-Control-Allow-Credentials}).
 */
public final class Cors implements Handler<RoutingContext> {
  /** Seconds a browser may cache a preflight answer. */
  public static final int MAX_AGE_SECONDS = 600;
  static final Set<HttpMethod> METHODS = Set.of(HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH,
      HttpMethod.DELETE, HttpMethod.OPTIONS);
  static final Set<String> ALLOWED_HEADERS = Set.of("Authorization", "Content-Type", "Last-Event-ID",
      RequestIds.HEADER, "Accept");
  static final Set<String> EXPOSED_HEADERS = Set.of(RequestIds.HEADER, "Location", "Retry-After");

  private final Set<String> origins;
  private final boolean any;
  private final CorsHandler cors;

  private Cors(List<String> origins) {
    this.origins = new LinkedHashSet<>(origins);
    this.any = this.origins.contains("*");
    CorsHandler h = CorsHandler.create();
    if (any) {
      h.addOrigin("*");
    } else {
      h.addOrigins(new ArrayList<>(this.origins));
    }
    this.cors = h.allowedMethods(METHODS).allowedHeaders(ALLOWED_HEADERS).exposedHeaders(EXPOSED_HEADERS)
        .allowCredentials(false).maxAgeSeconds(MAX_AGE_SECONDS);
  }

  /** The handler for the configured value, or null when the value lists no origin (same origin only). */
  public static Cors of(String configured) {
    List<String> list = CorsOrigins.parse(configured);
    return list.isEmpty() ? null : new Cors(list);
  }

  @Override
  public void handle(RoutingContext ctx) {
    String origin = ctx.request().getHeader("Origin");
    if (origin == null || sameOrigin(origin, ctx.request().getHeader("Host"))) {
      ctx.next();
      return;
    }
    if (!any && !origins.contains(origin.toLowerCase(Locale.ROOT))) {
      Responses.error(ctx, ApiError.of(ErrorCode.ORIGIN_NOT_ALLOWED, "Origin " + origin
          + " may not call this service; add it to http.cors_origins (OSPREY_HTTP_CORS_ORIGINS)"));
      return;
    }
    cors.handle(ctx);
  }

  /**
   * The page's host and port equal the host the request was sent to. The scheme is not compared: behind a proxy that
   * ends TLS the service sees http while the page says https, and one host:port serves one scheme.
   */
  static boolean sameOrigin(String origin, String host) {
    if (host == null) {
      return false;
    }
    int sep = origin.indexOf("://");
    if (sep < 0) {
      return false;
    }
    String scheme = origin.substring(0, sep).toLowerCase(Locale.ROOT);
    String authority = origin.substring(sep + 3).toLowerCase(Locale.ROOT);
    String h = host.toLowerCase(Locale.ROOT);
    if (authority.equals(h)) {
      return true;
    }
    // An origin omits its scheme's default port; a Host header may still carry it.
    String port = scheme.equals("https") ? ":443" : scheme.equals("http") ? ":80" : null;
    return port != null && (authority + port).equals(h);
  }
}
