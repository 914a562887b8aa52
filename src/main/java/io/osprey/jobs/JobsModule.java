package io.osprey.jobs;

import io.osprey.events.JobStatusReader;
import io.osprey.health.Readiness;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.OrtRuntime;
import io.osprey.module.OspreyModule;
import io.osprey.rules.RuleSets;
import io.osprey.storage.StorageLayout;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.redis.client.Redis;
import io.vertx.sqlclient.Pool;

/**
 * Detection jobs as records: their table, status cache, metrics, the worker heartbeat, and the model and rule
 * catalogues, in every role. Where the API runs it also publishes jobs (its own queue connection), sweeps jobs
 * left queued too long (a worker-only role sweeps in the workers module), serves the job routes and samples the queue length for the metrics (a worker role samples
 * through its consumer instead, see the workers module).
 */
public final class JobsModule implements OspreyModule {
  private final JobsSettings settings;
  private final boolean api;
  private final boolean workersHere;
  private final JobRepository jobs;
  private final StatusCache cache;
  private final JobMetrics metrics;
  private final WorkerHeartbeat heartbeat;
  private final ModelRegistry models;
  private final RuleSets ruleSets;
  private final StorageLayout layout;
  private final Redis redis;
  private final OrtRuntime runtime;
  private final Readiness readiness;
  private final BrokerCheck brokerCheck;
  private JobQueue publisher;
  private JobMaintenanceVerticle maintenance;
  private JobsApi routes;

  /**
   * {@code runtime}: the inference runtime of a worker role, null where no model runs (the API then only lists
   * models). {@code api}: whether this process serves the API; {@code workersHere}: whether it runs workers.
   */
  public JobsModule(Vertx vertx, JobsSettings settings, boolean api, boolean workersHere, Pool pool, Redis redis,
                    StorageLayout layout, MeterRegistry registry, OrtRuntime runtime, Readiness readiness) {
    this.settings = settings;
    this.api = api;
    this.workersHere = workersHere;
    this.redis = redis;
    this.runtime = runtime;
    this.readiness = readiness;
    // Every role has a job queue (the API publishes, workers consume), so every role checks the broker.
    this.brokerCheck = new BrokerCheck(vertx, settings.broker(), settings.brokerCheckTimeoutMs());
    this.layout = layout;
    this.jobs = new JobRepository(pool);
    this.cache = new StatusCache(redis, settings.keyPrefix(), settings.statusCacheTtlSeconds());
    this.metrics = new JobMetrics(registry, settings.queue());
    this.heartbeat = new WorkerHeartbeat(redis, settings.keyPrefix());
    this.models = new ModelRegistry(runtime, settings.modelsDir(), settings.defaultModel());
    this.ruleSets = new RuleSets(settings.rulesDir());
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    readiness.addCheck("rabbitmq", brokerCheck::probe, brokerCheck.target());
    if (!api) {
      return Future.succeededFuture();
    }
    publisher = settings.queue(vertx, "osprey-api");
    // Not awaited: an unreachable broker is retried in the background, and predict answers 503 meanwhile.
    publisher.start();
    maintenance = new JobMaintenanceVerticle(jobs, publisher, cache, metrics, settings.queuedTimeout(), 5000);
    routes = new JobsApi(vertx, jobs, publisher, cache, new RateLimiter(redis, settings.keyPrefix(),
        settings.rateLimitPerMinute(), settings.rateLimitTrustForwardedFor()), models, ruleSets, layout, metrics,
        heartbeat);
    if (!workersHere) {
      metrics.poll(vertx, publisher, heartbeat, 5000);
    }
    return vertx.deployVerticle(maintenance).mapEmpty();
  }

  @Override
  public void mount(Router router) {
    if (routes != null) {
      routes.mount(router);
    }
  }

  @Override
  public Future<Void> stop() {
    return Future.join(publisher == null ? Future.succeededFuture() : publisher.close(), brokerCheck.close())
        .mapEmpty();
  }

  /** Job status for the events module's job streams, read from the job table. */
  public JobStatusReader statusReader() {
    return jobId -> jobs.find(jobId)
        .map(j -> j == null ? null : new JobStatusReader.JobStatus(j.userId(), j.statusJson()));
  }

  public JobRepository repository() {
    return jobs;
  }

  public StatusCache cache() {
    return cache;
  }

  public JobMetrics metrics() {
    return metrics;
  }

  public WorkerHeartbeat heartbeat() {
    return heartbeat;
  }

  public ModelRegistry models() {
    return models;
  }

  /** The inference runtime (null where no model runs). */
  public OrtRuntime runtime() {
    return runtime;
  }

  public RuleSets ruleSets() {
    return ruleSets;
  }

  /** The queued-timeout sweep (null where the API does not run). */
  public JobMaintenanceVerticle maintenance() {
    return maintenance;
  }
}
