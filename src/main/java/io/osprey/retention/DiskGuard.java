package io.osprey.retention;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Free space of the storage root's file system against {@code storage.min_free_bytes}. The reading
 * ({@link FileStore#getUsableSpace}, a syscall) is taken on this worker verticle's timer, never per request; routes,
 * readiness and the {@code disk_free_bytes} gauge only read the cached figure. Deploy with the worker threading
 * model.
 */
public final class DiskGuard extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(DiskGuard.class);

  private final Path root;
  private final long minFreeBytes;
  private final long intervalMs;
  private final Runnable onLow;
  private volatile long freeBytes = -1;
  private volatile boolean wasLow;
  private long timer = -1;

  /** {@code onLow} runs on each reading below the threshold (the retention sweep rate-limits itself). */
  public DiskGuard(Path root, long minFreeBytes, long intervalMs, MeterRegistry registry, Runnable onLow) {
    this.root = root;
    this.minFreeBytes = minFreeBytes;
    this.intervalMs = intervalMs;
    this.onLow = onLow;
    Gauge.builder("disk_free_bytes", this, g -> g.freeBytes)
        .description("Usable bytes on the file system of storage.root (read once a second; -1 before the first"
            + " reading)")
        .register(registry);
  }

  @Override
  public Future<?> start() {
    read();
    timer = vertx.setPeriodic(intervalMs, id -> read());
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return Future.succeededFuture();
  }

  private void read() {
    try {
      FileStore store = Files.getFileStore(root);
      freeBytes = store.getUsableSpace();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot read free space of {}: {}", root, e.toString());
      return;
    }
    boolean low = low();
    if (low != wasLow) {
      wasLow = low;
      if (low) {
        LOG.warn("free space on {} is {} bytes, below storage.min_free_bytes {}: uploads and creates get 507",
            root, freeBytes, minFreeBytes);
      } else {
        LOG.info("free space on {} is {} bytes again; uploads and creates accepted", root, freeBytes);
      }
    }
    if (low && onLow != null) {
      onLow.run();
    }
  }

  public long freeBytes() {
    return freeBytes;
  }

  /** Below the threshold at the last reading (never when the guard is off or nothing was read yet). */
  public boolean low() {
    return minFreeBytes > 0 && freeBytes >= 0 && freeBytes < minFreeBytes;
  }

  /** A route handler placed before writing routes: 507 INSUFFICIENT_STORAGE while low, else the next handler. */
  public Handler<RoutingContext> handler() {
    return ctx -> {
      if (!low()) {
        ctx.next();
        return;
      }
      ctx.response().putHeader("Retry-After", "60");
      Responses.error(ctx, ApiError.of(ErrorCode.INSUFFICIENT_STORAGE, "Not enough free storage space on the server"
              + " to accept new files; retry later")
          .withDetails(new JsonObject().put("free_bytes", freeBytes).put("min_free_bytes", minFreeBytes)));
    };
  }

  /** Readiness check: fails, naming the figures, while low. */
  public Future<Void> probe() {
    return low() ? Future.failedFuture("free space " + freeBytes + " bytes is below storage.min_free_bytes "
        + minFreeBytes) : Future.succeededFuture();
  }
}
