package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import java.time.Duration;
import java.time.OffsetDateTime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Periodic duties of every process (API or worker role; one per process): hands the broker the jobs it missed while
 * it was down (they stay queued in PostgreSQL meanwhile), fails jobs queued longer than the timeout (spec: queued,
 * 5 min, failed), sweeps expired job leases (their worker died: the job is handed to the broker again, the next
 * take counting toward {@code jobs.max_deliveries}), and samples the queue length for the metrics and the
 * dashboard. Workers run it too, so a deployment of only worker processes recovers a dead worker's job. Expiry and
 * sweep are each one conditional UPDATE (a row changes once, whichever process gets there first); the republisher
 * runs under a PostgreSQL advisory lock, so several processes sweeping at once hand each job to the broker once.
 */
public final class JobMaintenanceVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(JobMaintenanceVerticle.class);

  private final JobRepository jobs;
  private final JobQueue queue;
  private final StatusCache cache;
  private final JobMetrics metrics;
  private final Duration queuedTimeout;
  private final long periodMs;
  private long timer;
  /** The round in progress (null when none); event-loop state of this verticle. */
  private Future<Void> current;

  public JobMaintenanceVerticle(JobRepository jobs, JobQueue queue, StatusCache cache, JobMetrics metrics,
                                Duration queuedTimeout, long periodMs) {
    this.jobs = jobs;
    this.queue = queue;
    this.cache = cache;
    this.metrics = metrics;
    this.queuedTimeout = queuedTimeout;
    this.periodMs = periodMs;
  }

  @Override
  public Future<?> start() {
    // A timer round is skipped while one runs (rounds never overlap).
    timer = vertx.setPeriodic(periodMs, id -> {
      if (current == null) {
        round();
      }
    });
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timer);
    return Future.succeededFuture();
  }

  /**
   * Runs one full round of all duties and completes when it is done: a round already in progress is waited for
   * first (it may have started before the caller's change, e.g. a job that just became due), then a fresh one
   * runs. Callable from any thread.
   */
  public Future<Void> tick() {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      Future<Void> before = current == null ? Future.succeededFuture() : current;
      before.onComplete(x -> (current == null ? round() : current.transform(y -> round())).onComplete(done));
    });
    return done.future();
  }

  /** One round of all duties; call on this verticle's context. */
  private Future<Void> round() {
    Future<Void> r = expire()
        .compose(x -> sweepLeases())
        .compose(x -> republish())
        .compose(x -> sampleQueue())
        .onFailure(e -> LOG.warn("job maintenance round failed: {}", e.getMessage()))
        .otherwiseEmpty();
    current = r;
    r.onComplete(x -> {
      if (current == r) {
        current = null;
      }
    });
    return r;
  }

  private Future<Void> expire() {
    return jobs.failQueuedBefore(OffsetDateTime.now().minus(queuedTimeout), JobRunnerVerticle.error("QUEUE_TIMEOUT",
            "Job timed out in the queue", "No worker started this job within " + queuedTimeout.toSeconds()
                + " seconds."))
        .compose(failed -> {
          failed.forEach(job -> {
            LOG.warn("job {} failed: queued longer than {} s", job.jobId(), queuedTimeout.toSeconds());
            metrics.jobCounted(JobRow.FAILED);
            cache.put(job);
          });
          return Future.succeededFuture();
        });
  }

  private Future<Void> sweepLeases() {
    return jobs.sweepExpiredLeases().compose(swept -> {
      swept.forEach(job -> {
        LOG.warn("job {}: its worker's lease expired (worker gone); handing it to the broker again, next take {}",
            job.jobId(), job.attempts() + 1);
        cache.put(job);
      });
      return Future.succeededFuture();
    });
  }

  private Future<Void> republish() {
    if (!queue.connected()) {
      return Future.succeededFuture();
    }
    return jobs.republishUnderLock(100, id -> queue.publish(id)
            .onSuccess(y -> LOG.info("job {} handed to the broker", id)))
        .mapEmpty();
  }

  private Future<Void> sampleQueue() {
    return queue.length().onSuccess(metrics::queueLength).<Void>mapEmpty().otherwiseEmpty();
  }
}
