package io.osprey.workers;

import io.osprey.health.Readiness;
import io.osprey.imaging.ImageBudget;
import io.osprey.inference.DetectionEngine;
import io.osprey.jobs.AnnotationSink;
import io.osprey.inference.ModelRegistry;
import io.osprey.jobs.JobConsumerVerticle;
import io.osprey.jobs.JobMaintenanceVerticle;
import io.osprey.jobs.JobQueue;
import io.osprey.jobs.JobRunnerVerticle;
import io.osprey.jobs.JobsModule;
import io.osprey.jobs.JobsSettings;
import io.osprey.jobs.PipelineWorkerVerticle;
import io.osprey.pipeline.ImagePipeline;
import io.osprey.pipeline.ResultWriter;
import io.osprey.module.OspreyModule;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The detection workers of a worker role: jobs.worker_instances pipeline worker verticles (decode, detect, rules,
 * result files, one image each), the job runner handing them images, the queue consumer feeding it (a connection of
 * its own), the heartbeat the API counts live workers by, and the default model warmed at start (a readiness
 * check). Everything here deploys after HTTP is up, so a process takes jobs only once it is otherwise started. Its
 * graceful stop is {@link #drain}: stop consuming, let the images in progress finish within shutdown.grace_seconds,
 * hand the jobs back.
 */
public final class WorkersModule implements OspreyModule {
  private static final Logger LOG = LoggerFactory.getLogger(WorkersModule.class);

  private final WorkersSettings settings;
  private final JobsSettings jobsSettings;
  private final JobsModule jobs;
  private final boolean api;
  private final String workerId = UUID.randomUUID().toString();
  private final JobRunnerVerticle runner;
  private final java.util.function.Supplier<ImagePipeline> pipelines;
  private JobQueue consumerQueue;
  private JobMaintenanceVerticle maintenance;
  private Vertx vertx;
  private long heartbeatTimer = -1;
  /** The default model's warm-up, started on deploy. */
  private volatile Future<Void> warm;

  /** {@code api}: whether this process serves the API too (the worker then also samples live workers). */
  public WorkersModule(WorkersSettings settings, JobsSettings jobsSettings, JobsModule jobs, boolean api,
                       StorageLayout layout, AnnotationSink annotations, ImageBudget imageBudget,
                       Readiness readiness) {
    this.settings = settings;
    this.jobsSettings = jobsSettings;
    this.jobs = jobs;
    this.api = api;
    ModelRegistry models = jobs.models();
    ResultWriter writer = new ResultWriter(layout, settings.thumbnailSize(), settings.jpegQuality());
    boolean overlap = DetectionEngine.overlapPays(jobs.runtime().intraOpThreads());
    RulesStage rules = new RulesStage(jobs.ruleSets(), settings.rulesTimeBudgetMs());
    // The per-image work (decode, inference, rules, result files): one pipeline per worker verticle.
    this.pipelines = () -> new ImagePipeline(rules, writer, imageBudget, settings.maxBatch(), overlap);
    this.runner = new JobRunnerVerticle(jobs.repository(), models, layout, jobs.cache(), jobs.metrics(),
        settings.instances(), new JobRunnerVerticle.Retries(settings.maxDeliveries(), settings.retryAttempts(),
            settings.retryBackoffMs()), annotations, new JobRunnerVerticle.Leasing(workerId, settings.leaseSeconds(),
            settings.leaseRenewSeconds(), settings.maxProcessingSeconds()));
    // Registered now, before HTTP serves readiness; it reports the warm-up that deploy starts.
    readiness.addCheck("model", () -> {
      Future<Void> loading = warm;
      return loading != null && loading.isComplete() ? loading : Future.failedFuture("still loading");
    }, models.defaultModel() + " in " + models.directory());
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    this.vertx = vertx;
    consumerQueue = jobsSettings.queue(vertx, "osprey-worker-" + workerId.substring(0, 8));
    JobQueue queue = consumerQueue;
    // A job handed back by a draining worker is published again on this worker's queue (open until the end).
    runner.republishVia(queue::publish);
    // The queue length through this process's own consumer; live workers only where the API runs too.
    jobs.metrics().poll(vertx, queue, api ? jobs.heartbeat() : null, 5000);
    ModelRegistry models = jobs.models();
    // Warm the default model now so the first job does not pay for loading it; readiness reports how it went.
    warm = vertx.executeBlocking(() -> models.get(null), false)
        .onFailure(e -> LOG.warn("default model not loaded: {}", e.getMessage()))
        .mapEmpty();
    Future<?> sweeping = Future.succeededFuture();
    if (!api) {
      // A worker-only process sweeps and republishes too (issue 15): a deployment of only workers must still hand
      // a dead worker's job on. It publishes through its consumer connection (the API role has its publisher).
      maintenance = new JobMaintenanceVerticle(jobs.repository(), queue, jobs.cache(), jobs.metrics(),
          jobsSettings.queuedTimeout(), 5000);
      sweeping = vertx.deployVerticle(maintenance);
    }
    return sweeping
        .compose(x -> PipelineWorkerVerticle.deploy(vertx, settings.instances(), jobs.models(), pipelines))
        .compose(x -> vertx.deployVerticle(runner))
        .compose(x -> vertx.deployVerticle(new JobConsumerVerticle(queue, settings.instances())))
        .onSuccess(x -> {
          jobs.heartbeat().beat(workerId);
          heartbeatTimer = vertx.setPeriodic(5000, t -> jobs.heartbeat().beat(workerId));
        })
        .mapEmpty();
  }

  /**
   * A worker's graceful stop: cancel the queue consumer (no new job, and no re-consume by the queue's
   * supervision; the channel stays open for acks, requeues and the re-publish of handed-back jobs), then wait up
   * to shutdown.grace_seconds for the runner to finish its images and hand its jobs back. Past the grace the models
   * refuse new runs, so an image in progress stops at its next batch of tiles and its job is handed back too; that
   * last wait is bounded by the caller's {@code bounded}.
   */
  public Future<Void> drain(java.util.function.BiFunction<String, Future<Void>, Future<Void>> bounded) {
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
      heartbeatTimer = -1;
    }
    if (consumerQueue == null) {
      return Future.succeededFuture();
    }
    long graceMs = Math.max(1, settings.grace().toMillis());
    long start = System.nanoTime();
    return bounded.apply("stop consuming", consumerQueue.stopConsuming())
        .compose(x -> runner.drain().timeout(graceMs, TimeUnit.MILLISECONDS))
        .recover(e -> {
          LOG.warn("shutdown: work still running after shutdown.grace_seconds ({} s); stopping inference, its job"
              + " is handed back", settings.grace().toSeconds());
          jobs.models().beginClose();
          return bounded.apply("hand back after grace", runner.drain());
        })
        .onSuccess(x -> LOG.info("worker drained in {} ms", (System.nanoTime() - start) / 1_000_000))
        // A job that reached no safe state even then: its lease lapses now, so the sweep hands it on promptly.
        .transform(x -> bounded.apply("release leases", runner.releaseLeases()).transform(y -> x.succeeded()
            ? Future.<Void>succeededFuture() : Future.<Void>failedFuture(x.cause())));
  }

  /** The sweep of a worker-only process (null where the API runs: the jobs module sweeps there). */
  public JobMaintenanceVerticle maintenance() {
    return maintenance;
  }

  /** After {@link #drain}: the heartbeat is withdrawn so the API stops counting this worker. */
  @Override
  public Future<Void> stop() {
    return jobs.heartbeat().leave(workerId);
  }
}
