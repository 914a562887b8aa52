package io.osprey.jobs;

import io.osprey.inference.ModelRegistry;
import io.osprey.rules.RuleSets;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;

/**
 * The detection job API of the spec, one class per responsibility: {@link PredictApi} (predict),
 * {@link JobStatusApi} (status, list, cancel), {@link ResultsExports} (results as JSON, COCO or YOLO, streamed),
 * {@link JobFilesApi} (visualization and the images behind it), {@link DashboardApi} (monitoring) and
 * {@link CatalogApi} (the models and rule sets a job may use). Each mounts
 * its own routes; handlers only read and write through asynchronous clients, and the few blocking steps (looking
 * for models, reading result files) run on Vert.x's worker pool.
 */
public final class JobsApi {
  private final PredictApi predict;
  private final JobStatusApi status;
  private final ResultsExports results;
  private final JobFilesApi files;
  private final DashboardApi dashboard;
  private final CatalogApi catalog;

  /** Counts worker processes alive, for the dashboard. */
  public interface Workers {
    Future<Integer> alive();
  }

  public JobsApi(Vertx vertx, JobRepository jobs, JobQueue queue, StatusCache cache, RateLimiter limiter,
                 ModelRegistry models, RuleSets ruleSets, StorageLayout layout, JobMetrics metrics,
                 Workers workers) {
    this.predict = new PredictApi(vertx, jobs, queue, cache, limiter, models, ruleSets, metrics);
    this.status = new JobStatusApi(jobs, cache, metrics);
    this.results = new ResultsExports(vertx, jobs, layout);
    this.files = new JobFilesApi(vertx, jobs, layout);
    this.dashboard = new DashboardApi(jobs, queue, workers);
    this.catalog = new CatalogApi(vertx, models, ruleSets);
  }

  public void mount(Router router) {
    predict.mount(router);
    status.mount(router);
    results.mount(router);
    files.mount(router);
    dashboard.mount(router);
    catalog.mount(router);
  }
}
