package io.osprey;

import io.osprey.annotations.AdminApi;
import io.osprey.annotations.AnnotationFiles;
import io.osprey.annotations.AnnotationRepository;
import io.osprey.annotations.AnnotationService;
import io.osprey.annotations.AnnotationStatus;
import io.osprey.annotations.AnnotationsApi;
import io.osprey.annotations.CacheInvalidation;
import io.osprey.annotations.JobAnnotations;
import io.osprey.annotations.ClassCatalog;
import io.osprey.annotations.MediaApi;
import io.osprey.annotations.PathResolver;
import io.osprey.annotations.Reconciler;
import io.osprey.auth.AuthHandler;
import io.osprey.auth.JwksSource;
import io.osprey.auth.TokenVerifier;
import io.osprey.config.Config;
import io.osprey.events.AnnotationStatuses;
import io.osprey.events.EventHub;
import io.osprey.events.EventLog;
import io.osprey.events.EventLogWriter;
import io.osprey.events.EventStreams;
import io.osprey.events.JobStatusReader;
import io.osprey.outbox.OutboxRepository;
import io.osprey.outbox.OutboxVerticle;
import io.osprey.health.Readiness;
import io.osprey.http.HttpVerticle;
import io.osprey.inference.DetectionEngine;
import io.osprey.inference.InferenceException;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OrtRuntime;
import io.osprey.inference.SessionBackend;
import io.osprey.jobs.BrokerCheck;
import io.osprey.jobs.JobConsumerVerticle;
import io.osprey.jobs.JobMaintenanceVerticle;
import io.osprey.jobs.JobMetrics;
import io.osprey.jobs.JobQueue;
import io.osprey.jobs.JobRepository;
import io.osprey.jobs.JobRunnerVerticle;
import io.osprey.jobs.JobsApi;
import io.osprey.jobs.PipelineWorkerVerticle;
import io.osprey.jobs.RateLimiter;
import io.osprey.jobs.StatusCache;
import io.osprey.jobs.WorkerHeartbeat;
import io.osprey.metrics.Metrics;
import io.osprey.pipeline.ImagePipeline;
import io.osprey.pipeline.ResultWriter;
import io.osprey.rules.RuleSets;
import io.osprey.rules.RulesStage;
import io.osprey.storage.Database;
import io.osprey.storage.RedisClients;
import io.osprey.storage.StorageLayout;
import io.osprey.retention.DeleteApi;
import io.osprey.retention.DiskGuard;
import io.osprey.retention.Retention;
import io.osprey.retention.RetentionVerticle;
import io.osprey.uploads.StorageJanitorVerticle;
import io.osprey.imaging.ImageBudget;
import io.osprey.uploads.UploadFilesVerticle;
import io.osprey.uploads.UploadHandler;
import io.osprey.uploads.UploadLimits;
import io.osprey.uploads.UploadRepository;
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
import java.util.Map;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
  private final Redis redis;
  private final Readiness readiness;
  private final StorageLayout layout;
  private final String workerId = UUID.randomUUID().toString();
  private HttpVerticle http;
  private StorageJanitorVerticle janitor;
  private Retention retention;
  private DiskGuard diskGuard;
  private JobMaintenanceVerticle maintenance;
  private ModelRegistry models;
  private JobRunnerVerticle runner;
  private JobQueue consumerQueue;
  private WorkerHeartbeat heartbeat;
  private long heartbeatTimer = -1;
  private JobQueue publisher;
  private BrokerCheck brokerCheck;
  private CacheInvalidation invalidation;
  private AnnotationService annotations;
  private Reconciler reconciler;
  private OutboxVerticle outbox;
  private EventHub hub;
  private EventStreams streams;
  /** How worker processes open and run model sessions: ONNX Runtime, or a test's failure-injecting wrapper. */
  private SessionBackend sessions = SessionBackend.onnxRuntime();

  private OspreyApp(Config config, Role role, Vertx vertx, Metrics metrics) {
    this.config = config;
    this.role = role;
    this.vertx = vertx;
    this.metrics = metrics;
    this.layout = new StorageLayout(config.path("storage.root"));
    this.pool = Database.pool(vertx, config);
    this.redis = RedisClients.create(vertx, config);
    this.readiness = new Readiness(vertx, config, pool, redis);
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
    io.osprey.http.HttpEdge.disableVertxWebSockets();
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
    app.sessions = sessions;
    return app.deploy().map(app).recover(e -> app.close().transform(x -> Future.failedFuture(e)));
  }

  private Future<Void> deploy() {
    String prefix = config.string("redis.key_prefix");
    UploadRepository uploads = new UploadRepository(pool);
    JobRepository jobs = new JobRepository(pool);
    StatusCache cache = new StatusCache(redis, prefix, config.integer("jobs.status_cache_ttl_seconds"));
    JobMetrics jobMetrics = new JobMetrics(metrics.registry(), config.string("jobs.queue"));
    heartbeat = new WorkerHeartbeat(redis, prefix);
    // Every role has a job queue (the API publishes, workers consume), so the broker check is registered in each.
    brokerCheck = new BrokerCheck(vertx, config);
    readiness.addCheck("rabbitmq", brokerCheck::probe, brokerCheck.target());
    OrtRuntime runtime = null;
    if (role.runsWorkers()) {
      try {
        runtime = new OrtRuntime(OrtRuntime.parseDevice(config.string("inference.device")),
            config.integer("inference.intra_op_threads"), config.integer("inference.inter_op_threads"), sessions);
      } catch (InferenceException e) {
        return Future.failedFuture(e);
      }
    }
    models = new ModelRegistry(runtime, config.path("models.dir"), config.string("models.default"));
    RuleSets ruleSets = new RuleSets(config.path("rules.dir"));
    TokenVerifier verifier = new TokenVerifier(vertx, jwksSource(),
        config.integer("auth.jwks_min_refetch_seconds") * 1000L, config.integer("auth.leeway_seconds"),
        new TokenVerifier.Policy(config.string("auth.issuer"), config.string("auth.audience"),
            config.integer("auth.max_token_lifetime_seconds")));
    PathResolver paths = new PathResolver(pool, layout.root().resolve(config.string("annotations.roots_base")));
    ClassCatalog classes = new ClassCatalog(pool);
    EventLog eventLog = new EventLog(redis, prefix);
    // Every role: workers create annotations too, and their events reach the log through the bus.
    EventLogWriter eventLogWriter = new EventLogWriter(redis, prefix, config.integer("events.retention_count"),
        config.integer("events.outage_buffer"));
    // One pixel budget per process: every route and the job runner check images against it before decoding.
    ImageBudget imageBudget = ImageBudget.from(config);
    annotations = new AnnotationService(vertx, new AnnotationRepository(pool), paths,
        new AnnotationFiles(config.integer("annotations.thumbnail_size"), imageBudget));
    invalidation = new CacheInvalidation(vertx, config, Map.of(PathResolver.CHANNEL_PAYLOAD, paths::reset,
        ClassCatalog.CHANNEL_PAYLOAD, classes::reset));

    Future<?> chain = invalidation.start()
        .compose(x -> vertx.deployVerticle(eventLogWriter))
        .compose(x -> verifier.load().otherwise(e -> null));
    JobsApi jobsApi = null;
    DeleteApi deleteApi = null;
    RetentionVerticle sweeper = null;
    if (role.runsApi()) {
      // Retention and delete (issue 15, item 5): API processes sweep; workers only write results.
      retention = new Retention(vertx, pool, cache, layout, metrics.registry());
      RetentionVerticle retentionVerticle = new RetentionVerticle(retention, config.integer("storage.retention_days"),
          Duration.ofMinutes(config.integer("storage.retention_sweep_minutes")));
      sweeper = retentionVerticle;
      chain = chain.compose(x -> vertx.deployVerticle(retentionVerticle));
      deleteApi = new DeleteApi(vertx, jobs, cache, jobMetrics, retention, 15_000);
      chain = chain.compose(x -> vertx.deployVerticle(() -> new UploadFilesVerticle(imageBudget),
          new DeploymentOptions()
          .setThreadingModel(ThreadingModel.WORKER)
          .setInstances(config.integer("uploads.worker_instances"))));
      janitor = new StorageJanitorVerticle(layout, uploads,
          Duration.ofMinutes(config.integer("storage.tmp_max_age_minutes")));
      chain = chain.compose(x -> vertx.deployVerticle(janitor,
          new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)));
      publisher = new JobQueue(vertx, config, "osprey-api");
      publisher.start();
      maintenance = new JobMaintenanceVerticle(jobs, publisher, cache, jobMetrics,
          Duration.ofSeconds(config.integer("jobs.queued_timeout_seconds")), 5000);
      chain = chain.compose(x -> vertx.deployVerticle(maintenance));
      reconciler = new Reconciler(annotations, Duration.ofSeconds(config.integer("annotations.reconcile_after_seconds")),
          Duration.ofSeconds(config.integer("annotations.reconcile_interval_seconds")));
      chain = chain.compose(x -> vertx.deployVerticle(reconciler));
      if (config.bool("outbox.enabled")) {
        outbox = new OutboxVerticle(config, new OutboxRepository(pool), paths, metrics.registry());
        OutboxVerticle drainer = outbox;
        chain = chain.compose(x -> vertx.deployVerticle(drainer));
        // Up while publishing works; its data also says whether large images go out without their bytes.
        readiness.addCheck("outbox", () -> drainer.lastError() == null ? Future.succeededFuture()
            : Future.failedFuture("publishing to the stream fails: " + drainer.lastError()),
            "annotation_outbox -> stream " + config.string("stream.name"), () -> drainer.frames().readiness());
      }
      hub = new EventHub(redis, eventLog, prefix);
      EventHub eventHub = hub;
      chain = chain.compose(x -> vertx.deployVerticle(eventHub));
      streams = new EventStreams(vertx, eventLog, verifier, jobId -> jobs.find(jobId)
          .map(j -> j == null ? null : new JobStatusReader.JobStatus(j.userId(), j.statusJson())),
          annotationStatuses(), config.integer("events.heartbeat_seconds"), config.integer("events.max_buffer_bytes"),
          config.integer("events.retry_ms"));
      jobsApi = new JobsApi(vertx, jobs, publisher, cache,
          new RateLimiter(redis, prefix, config.integer("jobs.rate_limit_per_minute"),
              config.bool("jobs.rate_limit_trust_forwarded_for")), models, ruleSets, layout,
          jobMetrics, heartbeat);
    }
    JobQueue consumerQueueOrNull = null;
    java.util.function.Supplier<Future<Void>> startConsuming = null;
    if (role.runsWorkers()) {
      int workers = config.integer("jobs.worker_instances");
      ResultWriter writer = new ResultWriter(layout, config.integer("jobs.thumbnail_size"),
          config.integer("jobs.jpeg_quality"));
      boolean overlap = DetectionEngine.overlapPays(runtime.intraOpThreads());
      RulesStage rulesStage = new RulesStage(ruleSets, config.integer("rules.time_budget_ms"));
      runner = new JobRunnerVerticle(jobs, models, layout, cache, jobMetrics, workers,
          new JobRunnerVerticle.Retries(config.integer("jobs.max_deliveries"), config.integer("jobs.retry_attempts"),
              config.integer("jobs.retry_backoff_ms")), new JobAnnotations(annotations),
          new JobRunnerVerticle.Leasing(workerId, config.integer("jobs.lease_seconds"),
              config.integer("jobs.lease_renew_seconds"), config.integer("jobs.max_processing_seconds")));
      // The per-image work (decode, inference, rules, result files): jobs.worker_instances worker verticles, each
      // with its own pipeline.
      int maxBatch = config.integer("inference.batch_size");
      chain = chain.compose(x -> PipelineWorkerVerticle.deploy(vertx, workers, models,
          () -> new ImagePipeline(rulesStage, writer, imageBudget, maxBatch, overlap)));
      consumerQueue = new JobQueue(vertx, config, "osprey-worker-" + workerId.substring(0, 8));
      consumerQueueOrNull = consumerQueue;
      JobRunnerVerticle jobRunner = runner;
      JobQueue jobQueue = consumerQueue;
      // A job handed back by a draining worker is published again on this worker's queue (open until the end).
      runner.republishVia(jobQueue::publish);
      if (!role.runsApi()) {
        // A worker-only process sweeps and republishes too (issue 15): a deployment of only workers must still hand
        // a dead worker's job on. It publishes through its consumer connection (the API role has its publisher).
        maintenance = new JobMaintenanceVerticle(jobs, jobQueue, cache, jobMetrics,
            Duration.ofSeconds(config.integer("jobs.queued_timeout_seconds")), 5000);
        JobMaintenanceVerticle sweeps = maintenance;
        chain = chain.compose(x -> vertx.deployVerticle(sweeps));
      }
      chain = chain.compose(x -> vertx.deployVerticle(jobRunner));
      // Jobs are taken last, once everything else is up: a worker stopped while still starting (SIGTERM before the
      // launcher's shutdown hook exists) then holds no job it could not hand back.
      startConsuming = () -> vertx.deployVerticle(new JobConsumerVerticle(jobQueue, workers))
          .onSuccess(x -> {
            heartbeat.beat(workerId);
            heartbeatTimer = vertx.setPeriodic(5000, t -> heartbeat.beat(workerId));
          })
          .mapEmpty();
      // Warm the default model now so the first job does not pay for loading it; readiness reports how it went.
      Future<Void> warm = vertx.executeBlocking(() -> models.get(null), false)
          .onFailure(e -> LOG.warn("default model not loaded: {}", e.getMessage()))
          .mapEmpty();
      readiness.addCheck("model", () -> warm.isComplete() ? warm : Future.failedFuture("still loading"),
          config.string("models.default") + " in " + models.directory());
    }
    // Metrics in every role (issue 15, item 9): the queue length from the broker through this process's own
    // client (the consumer's in worker roles, the publisher's otherwise); live workers where the API runs; GPU
    // utilisation where nvidia-smi exists (absent on CPU machines).
    JobQueue sampled = role.runsWorkers() ? consumerQueueOrNull : publisher;
    if (sampled != null) {
      jobMetrics.poll(vertx, sampled, role.runsApi() ? heartbeat : null, 5000);
    }
    if (io.osprey.metrics.GpuUtilization.available()) {
      chain = chain.compose(x -> vertx.deployVerticle(new io.osprey.metrics.GpuUtilization(metrics.registry(), 5000),
          new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)));
    }
    // Disk guard (issue 15, item 6): every role reads free space (gauge, readiness); API routes refuse new files.
    RetentionVerticle early = sweeper;
    diskGuard = new DiskGuard(layout.root(), config.longValue("storage.min_free_bytes"), 1000, metrics.registry(),
        early == null ? null : early::diskLow);
    DiskGuard disk = diskGuard;
    chain = chain.compose(x -> vertx.deployVerticle(disk,
        new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)));
    readiness.addCheck("disk", disk::probe, layout.root() + " (storage.min_free_bytes "
        + config.longValue("storage.min_free_bytes") + ")");
    DeleteApi deletes = deleteApi;
    UploadHandler uploadHandler = new UploadHandler(vertx, layout, uploads, UploadLimits.from(config));
    JobsApi api = jobsApi;
    java.util.function.Predicate<String> eventStreams = path -> path.endsWith("/events");
    AuthHandler inferenceGuard = config.string("auth.inference_api").equals("required")
        ? AuthHandler.required(verifier, eventStreams) : AuthHandler.optional(verifier, eventStreams);
    long maxImage = config.longValue("annotations.max_image_bytes");
    http = new HttpVerticle(config.string("http.host"), config.integer("http.port"), metrics, readiness, router -> {
      if (role.runsApi()) {
        inferenceGuard.guard(router.route("/api/v1/*"));
        router.post("/api/v1/inference/upload").handler(disk.handler());
        router.post("/api/v1/inference/upload").handler(uploadHandler);
        streams.mount(router);
        api.mount(router);
        deletes.mount(router);
        // Before the annotation routes' own token checks, so a refused create never starts receiving its body.
        router.post("/annotations").handler(disk.handler());
        router.post("/media").handler(disk.handler());
        router.post("/media/batch").handler(disk.handler());
        new AnnotationsApi(annotations, classes, verifier, layout.tmp(), maxImage).mount(router);
        new MediaApi(annotations, verifier, layout.tmp(), config.longValue("media.max_request_bytes"),
            config.integer("media.max_files"), maxImage).mount(router);
        new AdminApi(annotations, classes, verifier).mount(router);
      }
    }, io.osprey.http.HttpEdge.from(config), io.osprey.http.Cors.of(config.string("http.cors_origins")));
    java.util.function.Supplier<Future<Void>> consuming = startConsuming;
    return chain.compose(x -> vertx.deployVerticle(http))
        .compose(id -> consuming == null ? Future.succeededFuture(id) : consuming.get().map(id))
        .onSuccess(id -> LOG.info("Osprey started: role {}, port {}, storage {}, models {}",
            role.name().toLowerCase(), http.actualPort(), layout.root(), models.directory()))
        .mapEmpty();
  }

  private JwksSource jwksSource() {
    String file = config.string("auth.jwks_file");
    String url = config.string("auth.jwks_url");
    if (!file.isBlank()) {
      LOG.warn("developer mode: tokens are verified against the local key set {}", file);
      return JwksSource.file(vertx, Path.of(file));
    }
    if (!url.isBlank()) {
      return JwksSource.url(vertx, url);
    }
    LOG.warn("no JWKS configured (JWT_JWKS_URL / auth.jwks_url): every route that needs a token answers 401");
    return JwksSource.none();
  }

  public AnnotationService annotations() {
    return annotations;
  }

  /** The outbox drainer of this instance (null when outbox.enabled is false or the role serves no API). */
  public OutboxVerticle outbox() {
    return outbox;
  }

  public EventHub eventHub() {
    return hub;
  }

  /** The event streams of this instance (null when the role serves no API). */
  public EventStreams eventStreams() {
    return streams;
  }

  /** The annotations module's status vocabulary, for the events module's status filter. */
  private static AnnotationStatuses annotationStatuses() {
    return new AnnotationStatuses() {
      @Override
      public String wireName(String value) {
        AnnotationStatus status = AnnotationStatus.parse(value);
        return status == null ? null : status.wire();
      }

      @Override
      public String names() {
        return AnnotationStatus.names();
      }
    };
  }

  public Reconciler reconciler() {
    return reconciler;
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

  /** Deletion of jobs and uploads, and the retention sweep (null when the role serves no API). */
  public Retention retention() {
    return retention;
  }

  public DiskGuard diskGuard() {
    return diskGuard;
  }

  public JobMaintenanceVerticle maintenance() {
    return maintenance;
  }

  /**
   * Stops the process's work and connections. A worker first stops taking jobs and lets the image in progress
   * finish within shutdown.grace_seconds, handing its job back (see {@link #drainWorker}); model sessions are
   * closed last, only once no run is in them. Every other step is bounded, so a server that went away cannot hold
   * up a shutdown; unacknowledged jobs go back to the broker when the connection closes.
   */
  public Future<Void> close() {
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
    }
    CompletableFuture<Void> done = new CompletableFuture<>();
    drainWorker()
        .transform(x -> bounded("heartbeat", role.runsWorkers() && heartbeat != null ? heartbeat.leave(workerId)
            : Future.succeededFuture()))
        .transform(x -> bounded("job publisher", publisher == null ? Future.succeededFuture() : publisher.close()))
        .transform(x -> bounded("readiness", Future.join(readiness.close(), brokerCheck == null
            ? Future.succeededFuture() : brokerCheck.close()).mapEmpty()))
        .transform(x -> bounded("cache invalidation", invalidation == null ? Future.succeededFuture()
            : invalidation.close()))
        .transform(x -> bounded("verticles", undeployAll()))
        .onComplete(x -> {
          // Vert.x is closed from a plain thread and its end observed without a Vert.x context: a completion
          // routed through one of its (by then terminated) event loops would never arrive.
          Thread closer = new Thread(() -> {
            // Every job is handed back or finished by now, so normally nothing runs on the sessions; when an image
            // outlived every bound its session is left open rather than freed under it (the process is leaving).
            if (models != null) {
              models.close(Duration.ofSeconds(10));
            }
            vertx.close().toCompletionStage().whenComplete((v, e) -> done.complete(null));
          }, "osprey-shutdown-vertx");
          closer.setDaemon(true);
          closer.start();
        });
    return Future.fromCompletionStage(done);
  }

  /**
   * A worker's graceful stop: cancel the queue consumer (no new job, and no re-consume by the queue's supervision;
   * the channel stays open for acks, requeues and the re-publish of handed-back jobs), then wait up to shutdown.grace_seconds for the runner to finish its images and hand its jobs back.
   * Past the grace the models refuse new runs, so an image in progress stops at its next batch of tiles and its job
   * is handed back too; that last wait is bounded as well.
   */
  private Future<Void> drainWorker() {
    if (runner == null) {
      return Future.succeededFuture();
    }
    long graceMs = Math.max(1, config.integer("shutdown.grace_seconds") * 1000L);
    long start = System.nanoTime();
    return bounded("stop consuming", consumerQueue.stopConsuming())
        .compose(x -> runner.drain().timeout(graceMs, TimeUnit.MILLISECONDS))
        .recover(e -> {
          LOG.warn("shutdown: work still running after shutdown.grace_seconds ({} s); stopping inference, its job"
              + " is handed back", config.integer("shutdown.grace_seconds"));
          models.beginClose();
          return bounded("hand back after grace", runner.drain());
        })
        .onSuccess(x -> LOG.info("worker drained in {} ms", (System.nanoTime() - start) / 1_000_000))
        // A job that reached no safe state even then: its lease lapses now, so the sweep hands it on promptly.
        .transform(x -> bounded("release leases", runner.releaseLeases()).transform(y -> x.succeeded()
            ? Future.<Void>succeededFuture() : Future.<Void>failedFuture(x.cause())));
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
