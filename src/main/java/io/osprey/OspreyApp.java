package io.osprey;

import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.annotations.AnnotationService;
import io.osprey.annotations.AnnotationsModule;
import io.osprey.annotations.AnnotationsSettings;
import io.osprey.annotations.Reconciler;
import io.osprey.auth.AuthModule;
import io.osprey.auth.AuthSettings;
import io.osprey.config.Config;
import io.osprey.events.EventHub;
import io.osprey.events.EventStreams;
import io.osprey.console.ConsoleModule;
import io.osprey.console.ConsoleSettings;
import io.osprey.events.EventsModule;
import io.osprey.events.EventsSettings;
import io.osprey.health.Readiness;
import io.osprey.http.Cors;
import io.osprey.http.HttpEdge;
import io.osprey.http.HttpVerticle;
import io.osprey.inference.InferenceException;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OrtRuntime;
import io.osprey.inference.SessionBackend;
import io.osprey.jobs.JobMaintenanceVerticle;
import io.osprey.jobs.JobsModule;
import io.osprey.jobs.JobsSettings;
import io.osprey.metrics.GpuUtilization;
import io.osprey.metrics.Metrics;
import io.osprey.module.OspreyModule;
import io.osprey.outbox.OutboxModule;
import io.osprey.outbox.OutboxSettings;
import io.osprey.outbox.OutboxVerticle;
import io.osprey.retention.AdminModule;
import io.osprey.retention.AdminSettings;
import io.osprey.retention.DiskGuard;
import io.osprey.retention.Retention;
import io.osprey.storage.Database;
import io.osprey.storage.RedisClients;
import io.osprey.storage.StorageLayout;
import io.osprey.imaging.ImageBudget;
import io.osprey.uploads.StorageJanitorVerticle;
import io.osprey.uploads.UploadsModule;
import io.osprey.uploads.UploadsSettings;
import io.osprey.workers.WorkersModule;
import io.osprey.workers.WorkersSettings;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.redis.client.Redis;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Osprey process: prepares natives, storage and the schema, starts Vert.x with metrics, then composes the
 * capability modules of its role and serves their routes from {@code http.instances} HTTP verticles. What each
 * module deploys and mounts is the module's own business. The launcher runs one; tests run several side by side,
 * each with its own configuration.
 */
public final class OspreyApp {
  private static final Logger LOG = LoggerFactory.getLogger(OspreyApp.class);

  private final Config config;
  private final Role role;
  private final Vertx vertx;
  private final Metrics metrics;
  private final Pool pool;
  private final Redis redis;
  private final Readiness readiness;
  private final StorageLayout layout;
  /** In composition order, which is also the order of deployment and of routes (auth's guard first). */
  private final List<OspreyModule> modules = new ArrayList<>();
  private JobsModule jobs;
  private WorkersModule workers;
  private AnnotationsModule annotations;
  private EventsModule events;
  private UploadsModule uploads;
  private AdminModule admin;
  private OutboxModule outbox;
  private HttpVerticle http;

  private OspreyApp(Config config, Role role, Vertx vertx, Metrics metrics) {
    this.config = config;
    this.role = role;
    this.vertx = vertx;
    this.metrics = metrics;
    this.layout = new StorageLayout(config.path("storage.root"));
    this.pool = Database.pool(vertx, config);
    this.redis = RedisClients.create(vertx, config);
    this.readiness = new Readiness(vertx, Readiness.Settings.from(config), pool, redis);
  }

  /** Blocking preparation on the calling thread, then asynchronous deployment. */
  public static Future<OspreyApp> start(Config config, Role role) {
    return start(config, role, SessionBackend.onnxRuntime());
  }

  /**
   * {@link #start(Config, Role)} with the sessions opened and run through {@code sessions}: tests pass a backend
   * that makes CUDA fail as a GPU does, to prove the recovery ladder through the whole service.
   */
  public static Future<OspreyApp> start(Config config, Role role, SessionBackend sessions) {
    HttpEdge.disableVertxWebSockets();
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
    Future<Void> deployed;
    try {
      app.compose(sessions);
      deployed = app.deploy();
    } catch (InferenceException | RuntimeException e) {
      // Vert.x and the clients already made are closed below, as after a failed deployment.
      deployed = Future.failedFuture(e);
    }
    return deployed.map(app).recover(e -> app.close().transform(x -> Future.failedFuture(e)));
  }

  /** Builds the modules of this role; each gets its own settings record and the modules it uses. */
  private void compose(SessionBackend sessions) throws InferenceException {
    boolean api = role.runsApi();
    OrtRuntime runtime = role.runsWorkers() ? new OrtRuntime(OrtRuntime.parseDevice(config.string("inference.device")),
        config.integer("inference.intra_op_threads"), config.integer("inference.inter_op_threads"), sessions) : null;
    // One pixel budget per process: every route and the job runner check images against it before decoding.
    ImageBudget imageBudget = ImageBudget.from(config);
    MeterRegistry registry = metrics.registry();

    AuthModule auth = new AuthModule(vertx, AuthSettings.from(config), api);
    JobsSettings jobsSettings = JobsSettings.from(config);
    jobs = new JobsModule(vertx, jobsSettings, api, role.runsWorkers(), pool, redis, layout, registry, runtime,
        readiness);
    admin = new AdminModule(vertx, AdminSettings.from(config), api, pool, jobs, layout, registry, readiness);
    annotations = new AnnotationsModule(vertx, AnnotationsSettings.from(config), api, pool, layout, imageBudget,
        auth.verifier(), admin.diskGate());
    events = new EventsModule(vertx, EventsSettings.from(config), api, redis, auth.verifier(), jobs.statusReader(),
        annotations.statuses());

    // Route order: the inference API's guard, uploads, event streams, jobs, deletes, annotations and media.
    modules.add(auth);
    if (api) {
      uploads = new UploadsModule(vertx, UploadsSettings.from(config), pool, layout, imageBudget, admin.diskGate());
      modules.add(uploads);
    }
    modules.add(events);
    modules.add(jobs);
    modules.add(admin);
    modules.add(annotations);
    if (api) {
      outbox = new OutboxModule(OutboxSettings.from(config), pool, annotations.paths(), registry, readiness);
      modules.add(outbox);
      modules.add(new ConsoleModule(vertx, ConsoleSettings.from(config)));
    }
    if (role.runsWorkers()) {
      workers = new WorkersModule(WorkersSettings.from(config), jobsSettings, jobs, api, layout,
          annotations.jobSink(), imageBudget, readiness);
      modules.add(workers);
    }
  }

  private Future<Void> deploy() {
    // Every module but the workers deploys from this (non Vert.x) thread, so the clients a module starts get
    // contexts of their own rather than another module's; they start side by side and HTTP listens once all are
    // up. Workers come last: a process takes jobs only once it is otherwise fully up.
    List<Future<Void>> started = new ArrayList<>();
    for (OspreyModule module : modules) {
      if (module != workers) {
        started.add(module.deploy(vertx));
      }
    }
    if (GpuUtilization.available()) {
      // GPU utilisation where nvidia-smi exists (absent on CPU machines), in every role.
      started.add(vertx.deployVerticle(new GpuUtilization(metrics.registry(), 5000),
          new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)).mapEmpty());
    }
    int instances = config.integer("http.instances") > 0 ? config.integer("http.instances")
        : Runtime.getRuntime().availableProcessors();
    HttpEdge edge = HttpEdge.from(config);
    Cors cors = Cors.of(config.string("http.cors_origins"));
    String host = config.string("http.host");
    int port = config.integer("http.port");
    return Future.all(started)
        .compose(x -> HttpVerticle.deploy(vertx, instances, () -> new HttpVerticle(host, port, metrics, readiness,
            router -> modules.forEach(m -> m.mount(router)), edge, cors)))
        .compose(first -> {
          http = first;
          return workers == null ? Future.succeededFuture() : workers.deploy(vertx);
        })
        .onSuccess(x -> {
          LOG.info("Osprey started: role {}, port {} ({} HTTP instances), storage {}, models {}",
              role.name().toLowerCase(), http.actualPort(), instances, layout.root(), jobs.models().directory());
        })
        .mapEmpty();
  }

  public AnnotationService annotations() {
    return annotations == null ? null : annotations.service();
  }

  /** The outbox drainer of this instance (null when outbox.enabled is false or the role serves no API). */
  public OutboxVerticle outbox() {
    return outbox == null ? null : outbox.drainer();
  }

  public EventHub eventHub() {
    return events == null ? null : events.hub();
  }

  /** The event streams of this instance (null when the role serves no API). */
  public EventStreams eventStreams() {
    return events == null ? null : events.streams();
  }

  public Reconciler reconciler() {
    return annotations == null ? null : annotations.reconciler();
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

  /** The first HTTP verticle instance; every instance has the same routes on the same port. */
  public HttpVerticle http() {
    return http;
  }

  public StorageJanitorVerticle janitor() {
    return uploads == null ? null : uploads.janitor();
  }

  /** Deletion of jobs and uploads, and the retention sweep (null when the role serves no API). */
  public Retention retention() {
    return admin == null ? null : admin.retention();
  }

  public DiskGuard diskGuard() {
    return admin == null ? null : admin.diskGuard();
  }

  /** The job sweep: the jobs module's where the API runs, else the workers module's. */
  public JobMaintenanceVerticle maintenance() {
    if (jobs != null && jobs.maintenance() != null) {
      return jobs.maintenance();
    }
    return workers == null ? null : workers.maintenance();
  }

  /**
   * Stops the process's work and connections. A worker first stops taking jobs and lets the image in progress
   * finish within shutdown.grace_seconds, handing its job back (see {@link #drainWorker}); then every module stops
   * in reverse order (heartbeat, job publisher, cache invalidation ...), then readiness, then all verticles; model
   * sessions are closed last, only once no run is in them. Every step is bounded, so a server that went away cannot
   * hold up a shutdown; unacknowledged jobs go back to the broker when the connection closes.
   */
  public Future<Void> close() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    Future<Void> chain = drainWorker();
    for (int i = modules.size() - 1; i >= 0; i--) {
      OspreyModule module = modules.get(i);
      chain = chain.transform(x -> bounded(module.getClass().getSimpleName() + " stop", module.stop()));
    }
    chain
        .transform(x -> bounded("readiness", readiness.close()))
        .transform(x -> bounded("verticles", undeployAll()))
        .onComplete(x -> {
          // Vert.x is closed from a plain thread and its end observed without a Vert.x context: a completion
          // routed through one of its (by then terminated) event loops would never arrive.
          Thread closer = new Thread(() -> {
            // Every job is handed back or finished by now, so normally nothing runs on the sessions; when an image
            // outlived every bound its session is left open rather than freed under it (the process is leaving).
            if (jobs != null) {
              jobs.models().close(Duration.ofSeconds(10));
            }
            vertx.close().toCompletionStage().whenComplete((v, e) -> done.complete(null));
          }, "osprey-shutdown-vertx");
          closer.setDaemon(true);
          closer.start();
        });
    return Future.fromCompletionStage(done);
  }

  /**
   * A worker's graceful stop, before anything else closes: no new job, the images in progress finish within
   * shutdown.grace_seconds and their jobs are handed back (see {@link WorkersModule#drain}).
   */
  private Future<Void> drainWorker() {
    return workers == null ? Future.succeededFuture() : workers.drain(this::bounded);
  }

  private Future<Void> undeployAll() {
    List<Future<Void>> all = new ArrayList<>();
    for (String id : vertx.deploymentIDs()) {
      all.add(vertx.undeploy(id).otherwiseEmpty());
    }
    return Future.join(all).mapEmpty();
  }

  private Future<Void> bounded(String step, Future<Void> work) {
    long start = System.nanoTime();
    return work.timeout(10, TimeUnit.SECONDS)
        .onFailure(e -> LOG.warn("shutdown step '{}' did not finish: {}", step, e.toString()))
        .onComplete(x -> LOG.debug("shutdown step '{}' took {} ms", step, (System.nanoTime() - start) / 1_000_000))
        .otherwiseEmpty();
  }
}
