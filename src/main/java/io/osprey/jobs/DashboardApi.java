package io.osprey.jobs;

import static io.osprey.jobs.JobRoutes.databaseError;

import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/** The monitoring dashboard: job counts and rates from PostgreSQL, the queue length and the live workers. */
final class DashboardApi {
  private final JobRepository jobs;
  private final JobQueue queue;
  private final JobsApi.Workers workers;

  DashboardApi(JobRepository jobs, JobQueue queue, JobsApi.Workers workers) {
    this.jobs = jobs;
    this.queue = queue;
    this.workers = workers;
  }

  void mount(Router router) {
    router.get("/api/v1/monitoring/dashboard").handler(this::dashboard);
  }

  private void dashboard(RoutingContext ctx) {
    Future<JsonObject> stats = jobs.dashboardStats();
    Future<Long> length = queue.length().otherwise(-1L);
    Future<Integer> alive = workers.alive().otherwise(-1);
    Future.join(stats, length, alive).onComplete(x -> {
      if (stats.failed()) {
        databaseError(ctx, stats.cause());
        return;
      }
      JsonObject s = stats.result();
      long completed = s.getLong("completed_last_hour");
      Responses.json(ctx, 200, new JsonObject()
          .put("queue_length", length.result() >= 0 ? length.result() : null)
          .put("active_workers", alive.result() >= 0 ? alive.result() : null)
          .put("active_jobs", s.getLong("processing_jobs"))
          .put("queued_jobs", s.getLong("queued_jobs"))
          .put("job_rate", new JsonObject().put("completed_per_minute", Math.round(completed / 60.0 * 100) / 100.0)
              .put("completed_last_hour", completed).put("failed_last_hour", s.getLong("failed_last_hour")))
          .put("avg_duration", s.getDouble("avg_duration_seconds"))
          .put("avg_duration_seconds", s.getDouble("avg_duration_seconds"))
          .put("generated_at", java.time.Instant.now().toString()));
    });
  }
}
