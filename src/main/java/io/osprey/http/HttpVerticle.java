package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.osprey.health.Readiness;
import io.osprey.metrics.ApiMetrics;
import io.osprey.metrics.Metrics;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.Handler;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.micrometer.PrometheusScrapingHandler;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP front: health, metrics and the OpenAPI document always; the API routes given by the caller (the API
 * role) on top. Handlers registered here never block: file and CPU work goes to worker verticles.
 */
public final class HttpVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(HttpVerticle.class);

  /** Adds API routes to a router; called once per instance, on that instance's event loop. */
  public interface Routes {
    void mount(Router router);
  }

  private final String host;
  private final int port;
  private final Metrics metrics;
  private final Readiness readiness;
  private final Routes routes;
  private final Cors cors;
  private final HttpEdge edge;
  private HttpServer server;
  private Router router;
  /** The process's request contract, given by {@link #deploy}; null for an instance deployed on its own. */
  private volatile RequestContract contract;

  public HttpVerticle(String host, int port, Metrics metrics, Readiness readiness, Routes routes) {
    this(host, port, metrics, readiness, routes, HttpEdge.defaults(), null);
  }

  /** {@code cors}: the browser contract of http.cors_origins, or null for same-origin pages only. */
  public HttpVerticle(String host, int port, Metrics metrics, Readiness readiness, Routes routes, HttpEdge edge,
                      Cors cors) {
    this.edge = edge;
    this.cors = cors;
    this.host = host;
    this.port = port;
    this.metrics = metrics;
    this.readiness = readiness;
    this.routes = routes;
  }

  @Override
  public Future<?> start() {
    // The instances of one deployment share the contract deploy loaded (see RequestContract on why that is safe);
    // an instance deployed on its own loads its own, before it routes anything.
    RequestContract given = contract;
    return given != null ? listen(given) : RequestContract.load(vertx).compose(this::listen);
  }

  private Future<?> listen(RequestContract contract) {
    router = Router.router(vertx);
    HttpServer created = vertx.createHttpServer(edge.apply(new HttpServerOptions()
        .setHost(host)
        // Port 0 would give each instance a random port of its own; -1 asks Vert.x for one random port that all
        // servers listening on -1 in this Vert.x instance share.
        .setPort(port == 0 ? -1 : port)
        .setCompressionSupported(true)));
    router.route().handler(edge.install(vertx, created, router));
    router.route().handler(new RequestIds());
    router.route().handler(new AccessLog());
    router.route().handler(new ApiMetrics(metrics.registry()));
    if (cors != null) {
      // Before every route and every auth handler: a preflight (OPTIONS, never with a token) is answered here.
      router.route().handler(cors);
    }
    router.route().handler(Text::guardParams);
    // Routes read it with RequestContract.of(ctx) to check JSON bodies against the documented schemas.
    router.route().handler(contract);

    router.get("/health/live").handler(ctx -> Responses.json(ctx, 200, new JsonObject().put("status", "UP")));
    router.get("/health/ready").handler(readiness.handler());
    router.get("/metrics").handler(PrometheusScrapingHandler.create(metrics.registry()));
    router.get("/openapi.yaml").handler(new OpenApiDocument());
    routes.mount(router);

    router.errorHandler(405, ctx -> Responses.error(ctx, ApiError.of(ErrorCode.METHOD_NOT_ALLOWED,
        ctx.request().method() + " is not allowed on " + ctx.request().path())));
    // A 403 failed by a library handler; vertx-web's CorsHandler fails this way for an origin it cannot parse.
    router.errorHandler(403, ctx -> {
      String why = ctx.failure() == null ? null : ctx.failure().getMessage();
      Responses.error(ctx, why != null && why.startsWith("CORS")
          ? ApiError.of(ErrorCode.ORIGIN_NOT_ALLOWED, "Origin " + ctx.request().getHeader("Origin")
              + " may not call this service (" + why + ")")
          : ApiError.of(ErrorCode.FORBIDDEN, why == null ? ErrorCode.FORBIDDEN.message() : why));
    });
    router.errorHandler(404, ctx -> Responses.error(ctx, ApiError.of(ErrorCode.NOT_FOUND,
        "No route for " + ctx.request().method() + " " + ctx.request().path())));
    router.errorHandler(400, ctx -> Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST,
        "Malformed request" + (ctx.failure() == null || ctx.failure().getMessage() == null ? ""
            : ": " + ctx.failure().getMessage()))));
    router.errorHandler(413, ctx -> Responses.error(ctx, ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE,
        "The request body exceeds the limit of " + ctx.request().path() + " (see docs/configuration.md)")));
    router.errorHandler(500, failures());
    // vertx-web's BodyHandler fails a request whose body broke off with status 200 (for any error but a Netty
    // DecoderException). A body the HTTP layer could not decode (a bad chunk) has been answered by HttpEdge already,
    // and a broken connection takes no answer; should anything be left unanswered, it gets the error shape.
    router.errorHandler(200, ctx -> Responses.error(ctx, ApiError.of(ErrorCode.MALFORMED_REQUEST,
        "The request body cannot be read" + (ctx.failure() == null || ctx.failure().getMessage() == null ? ""
            : ": " + ctx.failure().getMessage()))));

    return created
        .listen()
        .onSuccess(s -> {
          server = s;
          LOG.info("HTTP listening on {}:{}", host, s.actualPort());
        });
  }

  private Handler<RoutingContext> failures() {
    return ctx -> {
      Throwable failure = ctx.failure();
      if (failure instanceof ApiException api) {
        Responses.error(ctx, api.error());
        return;
      }
      if (failure instanceof OspreyException domain) {
        Responses.error(ctx, ApiError.of(domain));
        return;
      }
      if (io.osprey.storage.DatabaseFailures.unavailable(failure)) {
        LOG.warn("rid={} {} {}: database unavailable: {}", RequestIds.of(ctx), ctx.request().method(),
            ctx.request().path(), failure.toString());
        Responses.error(ctx, DatabaseErrors.unavailable());
        return;
      }
      LOG.error("rid={} unhandled failure on {} {}", RequestIds.of(ctx), ctx.request().method(),
          ctx.request().path(), failure);
      Responses.error(ctx, ApiError.of(ErrorCode.INTERNAL_ERROR,
          "Internal server error; quote request id " + RequestIds.of(ctx) + " when reporting it"));
    };
  }

  /**
   * Deploys {@code instances} HTTP verticles from {@code factory}, each with its own router and server on its own
   * event loop; Vert.x shares one listening socket between servers of the same host and port, and hands them
   * connections in turn. Returns the first instance, whose port and router stand for all of them.
   */
  public static Future<HttpVerticle> deploy(Vertx vertx, int instances, Supplier<HttpVerticle> factory) {
    List<HttpVerticle> created = new CopyOnWriteArrayList<>();
    // openapi.yaml is read and resolved once per deployment (once per process), not once per instance.
    return RequestContract.load(vertx).compose(contract -> vertx.deployVerticle(() -> {
      HttpVerticle verticle = factory.get();
      verticle.contract = contract;
      created.add(verticle);
      return verticle;
    }, new DeploymentOptions().setInstances(Math.max(1, instances)))).map(id -> created.get(0));
  }

  public int actualPort() {
    return server.actualPort();
  }

  public Router router() {
    return router;
  }
}
