package io.osprey;

import io.osprey.config.Config;
import io.osprey.health.Readiness;
import io.osprey.http.HttpVerticle;
import io.osprey.inference.NativeLibraries;
import io.osprey.metrics.Metrics;
import io.osprey.storage.Database;
import io.osprey.storage.StorageLayout;
import io.osprey.uploads.StorageJanitorVerticle;
import io.osprey.uploads.UploadFilesVerticle;
import io.osprey.uploads.UploadHandler;
import io.osprey.uploads.UploadLimits;
import io.osprey.uploads.UploadRepository;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Osprey process: prepares storage, natives and the schema, then deploys the verticles of its role.
 * The launcher runs one; tests run several side by side, each with its own configuration.
 */
public final class OspreyApp {
  private static final Logger LOG = LoggerFactory.getLogger(OspreyApp.class);

  private final Config config;
  private final Role role;
  private final Vertx vertx;
  private final Metrics metrics;
  private final Pool pool;
  private final Readiness readiness;
  private final StorageLayout layout;
  private HttpVerticle http;
  private StorageJanitorVerticle janitor;

  private OspreyApp(Config config, Role role, Vertx vertx, Metrics metrics) {
    this.config = config;
    this.role = role;
    this.vertx = vertx;
    this.metrics = metrics;
    this.layout = new StorageLayout(config.path("storage.root"));
    this.pool = Database.pool(vertx, config);
    this.readiness = new Readiness(vertx, config, pool);
  }

  /** Blocking preparation on the calling thread, then asynchronous deployment. */
  public static Future<OspreyApp> start(Config config, Role role) {
    try {
      NativeLibraries.configure(config.path("native.cache_dir"));
      new StorageLayout(config.path("storage.root")).ensureBaseFolders();
    } catch (IOException e) {
      return Future.failedFuture(new UncheckedIOException("storage root " + config.path("storage.root")
          + " or native cache " + config.path("native.cache_dir") + " is not writable: " + e.getMessage(), e));
    }
    try {
      Database.prepare(config);
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    Metrics metrics = new Metrics();
    Vertx vertx = metrics.install(Vertx.builder(), new VertxOptions()).build();
    OspreyApp app = new OspreyApp(config, role, vertx, metrics);
    return app.deploy().map(app).recover(e -> app.close().transform(x -> Future.failedFuture(e)));
  }

  private Future<Void> deploy() {
    UploadRepository uploads = new UploadRepository(pool);
    Future<?> chain = Future.succeededFuture();
    if (role.runsApi()) {
      chain = chain.compose(x -> vertx.deployVerticle(UploadFilesVerticle::new, new DeploymentOptions()
          .setThreadingModel(ThreadingModel.WORKER)
          .setInstances(config.integer("uploads.worker_instances"))));
      janitor = new StorageJanitorVerticle(layout, uploads,
          Duration.ofMinutes(config.integer("storage.tmp_max_age_minutes")));
      chain = chain.compose(x -> vertx.deployVerticle(janitor,
          new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)));
    }
    UploadHandler uploadHandler = new UploadHandler(vertx, layout, uploads, UploadLimits.from(config));
    http = new HttpVerticle(config.string("http.host"), config.integer("http.port"), metrics, readiness, router -> {
      if (role.runsApi()) {
        router.post("/api/v1/inference/upload").handler(uploadHandler);
      }
    });
    return chain.compose(x -> vertx.deployVerticle(http))
        .onSuccess(id -> LOG.info("Osprey started: role {}, port {}, storage {}", role.name().toLowerCase(),
            http.actualPort(), layout.root()))
        .mapEmpty();
  }

  public int port() {
    return http.actualPort();
  }

  public Vertx vertx() {
    return vertx;
  }

  public Config config() {
    return config;
  }

  public HttpVerticle http() {
    return http;
  }

  public StorageJanitorVerticle janitor() {
    return janitor;
  }

  public Future<Void> close() {
    return readiness.close()
        .transform(x -> pool.close())
        .transform(x -> vertx.close())
        .otherwiseEmpty();
  }
}
