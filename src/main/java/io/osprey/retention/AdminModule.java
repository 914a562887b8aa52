package io.osprey.retention;

import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.health.Readiness;
import io.osprey.jobs.JobsModule;
import io.osprey.module.OspreyModule;
import io.osprey.storage.StorageLayout;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.sqlclient.Pool;

/**
 * Storage administration. Every role watches free space (a gauge and a readiness check); where the API runs, the
 * module also deletes jobs and uploads on request, sweeps results past storage.retention_days, and sweeps early
 * when the disk runs low. Other modules put {@link #diskGate} in front of routes that store new files.
 */
public final class AdminModule implements OspreyModule {
  private final AdminSettings settings;
  private final StorageLayout layout;
  private final Readiness readiness;
  private final Retention retention;
  private final RetentionVerticle sweeper;
  private final DeleteApi deletes;
  private final DiskGuard diskGuard;

  /** {@code api}: whether this process serves the API (and so deletes and sweeps); the disk guard runs anyway. */
  public AdminModule(Vertx vertx, AdminSettings settings, boolean api, Pool pool, JobsModule jobs,
                     StorageLayout layout, MeterRegistry registry, Readiness readiness) {
    this.settings = settings;
    this.layout = layout;
    this.readiness = readiness;
    if (api) {
      retention = new Retention(vertx, pool, jobs.cache(), layout, registry);
      sweeper = new RetentionVerticle(retention, settings.retentionDays(), settings.sweepInterval());
      deletes = new DeleteApi(vertx, jobs.repository(), jobs.cache(), jobs.metrics(), retention, 15_000);
    } else {
      retention = null;
      sweeper = null;
      deletes = null;
    }
    RetentionVerticle early = sweeper;
    diskGuard = new DiskGuard(layout.root(), settings.minFreeBytes(), 1000, registry,
        early == null ? null : early::diskLow);
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    readiness.addCheck("disk", diskGuard::probe, layout.root() + " (storage.min_free_bytes "
        + settings.minFreeBytes() + ")");
    Future<?> swept = sweeper == null ? Future.succeededFuture() : vertx.deployVerticle(sweeper);
    return swept.compose(x -> vertx.deployVerticle(diskGuard,
        new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER))).mapEmpty();
  }

  @Override
  public void mount(Router router) {
    if (deletes != null) {
      deletes.mount(router);
    }
  }

  /** Answers 507 while free space is below the floor, before a route reads the body of a new file. */
  public Handler<RoutingContext> diskGate() {
    return diskGuard.handler();
  }

  public DiskGuard diskGuard() {
    return diskGuard;
  }

  /** Deletion and the retention sweep (null where the API does not run). */
  public Retention retention() {
    return retention;
  }
}
