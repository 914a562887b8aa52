package io.osprey.retention;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the retention sweep ({@code storage.retention_days}; 0 keeps everything) every
 * {@code storage.retention_sweep_minutes}, and early when the disk guard reports free space below its threshold
 * (at most once a minute then). Several API processes may sweep at once: each DELETE is idempotent.
 */
public final class RetentionVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(RetentionVerticle.class);
  private static final long EARLY_MIN_INTERVAL_MS = 60_000;

  private final Retention retention;
  private final int retentionDays;
  private final Duration interval;
  private final AtomicBoolean running = new AtomicBoolean();
  private volatile long lastEarly;
  private long timer = -1;

  public RetentionVerticle(Retention retention, int retentionDays, Duration interval) {
    this.retention = retention;
    this.retentionDays = retentionDays;
    this.interval = interval;
  }

  @Override
  public Future<?> start() {
    if (retentionDays > 0) {
      timer = vertx.setPeriodic(30_000, interval.toMillis(), id -> sweep("periodic"));
    }
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return Future.succeededFuture();
  }

  /** Called from the disk guard's timer while free space is low: one early sweep a minute at most. */
  public void diskLow() {
    long now = System.currentTimeMillis();
    if (retentionDays <= 0 || now - lastEarly < EARLY_MIN_INTERVAL_MS || context == null) {
      return;
    }
    lastEarly = now;
    context.runOnContext(x -> sweep("disk below storage.min_free_bytes"));
  }

  private void sweep(String why) {
    if (!running.compareAndSet(false, true)) {
      return;
    }
    LOG.debug("retention sweep ({})", why);
    retention.sweep(Duration.ofDays(retentionDays))
        .onFailure(e -> LOG.warn("retention sweep ({}) failed; the next one retries: {}", why, e.toString()))
        .onComplete(x -> running.set(false));
  }
}
