package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The status fast path (spec: "Check Redis cache", key {@code job:{id}}). Written on every change by whoever made
 * it; read by status polling. Redis being slow or down is never an error: reads fall back to PostgreSQL, writes
 * are dropped. A non-terminal entry older than a few seconds is not trusted (a missed write while Redis was away
 * could leave it stale), so polling then reads PostgreSQL and refreshes the entry.
 */
public final class StatusCache {
  private static final long TIMEOUT_MS = 250;
  private static final long FRESH_MS = 5000;
  /** At most one fallback warning per this many ms: during an outage every poll falls back, and one line says it. */
  static final long WARN_EVERY_MS = 30_000;
  private static final Logger LOG = LoggerFactory.getLogger(StatusCache.class);

  private final AtomicLong lastWarned = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong fallbacksSinceWarned = new AtomicLong();

  private final Redis redis;
  private final String prefix;
  private final int ttlSeconds;

  public StatusCache(Redis redis, String prefix, int ttlSeconds) {
    this.redis = redis;
    this.prefix = prefix;
    this.ttlSeconds = ttlSeconds;
  }

  private String key(String jobId) {
    return prefix + "job:" + jobId;
  }

  public Future<Void> put(JobRow job) {
    JsonObject entry = new JsonObject().put("cached_at", System.currentTimeMillis()).put("terminal", job.terminal())
        .put("user_id", job.userId()).put("status", job.statusJson());
    // Every status change passes here, so it is also where job event streams of every instance hear of it.
    redis.send(Request.cmd(Command.PUBLISH).arg(prefix + "jobs:" + job.jobId()).arg(job.statusJson().encode()));
    return redis.send(Request.cmd(Command.SET).arg(key(job.jobId())).arg(entry.encode()).arg("EX").arg(ttlSeconds))
        .timeout(TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .<Void>mapEmpty()
        .otherwiseEmpty();
  }

  /** Forgets a deleted job, so status reads go to PostgreSQL (and answer 404). */
  public Future<Void> evict(String jobId) {
    return redis.send(Request.cmd(Command.DEL).arg(key(jobId)))
        .timeout(TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .<Void>mapEmpty()
        .otherwiseEmpty();
  }

  /** The cached entry ({@code user_id}, {@code status}) when present and trustworthy, else null. */
  public Future<JsonObject> get(String jobId) {
    return redis.send(Request.cmd(Command.GET).arg(key(jobId)))
        .timeout(TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .map(r -> {
          if (r == null) {
            return null;
          }
          JsonObject entry = new JsonObject(r.toString());
          boolean fresh = System.currentTimeMillis() - entry.getLong("cached_at", 0L) < FRESH_MS;
          return entry.getBoolean("terminal", false) || fresh ? entry : null;
        })
        .otherwise(e -> {
          fellBack(e);
          return null;
        });
  }

  /** Logs that status reads go to PostgreSQL because Redis failed, rate-limited to one line per WARN_EVERY_MS. */
  private void fellBack(Throwable e) {
    long count = fallbacksSinceWarned.incrementAndGet();
    long now = System.currentTimeMillis();
    long last = lastWarned.get();
    if ((last == Long.MIN_VALUE || now - last >= WARN_EVERY_MS) && lastWarned.compareAndSet(last, now)) {
      fallbacksSinceWarned.addAndGet(-count);
      LOG.warn("job status cache (Redis) unreadable, status reads fall back to PostgreSQL ({} read(s) since the last"
          + " warning; next warning in {} s at the earliest): {}", count, WARN_EVERY_MS / 1000, e.toString());
    }
  }
}
