package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import java.util.concurrent.TimeUnit;

/**
 * Predict requests per user per minute, counted in Redis so every API instance shares one budget. With Redis
 * unreachable the limit is not enforced: refusing all work because a cache is down would be worse.
 */
public final class RateLimiter {
  private final Redis redis;
  private final String prefix;
  private final int perMinute;

  public RateLimiter(Redis redis, String prefix, int perMinute) {
    this.redis = redis;
    this.prefix = prefix;
    this.perMinute = perMinute;
  }

  /** Seconds to wait when over the limit, or 0 when the request may go ahead. */
  public Future<Integer> acquire(String userId) {
    if (perMinute <= 0) {
      return Future.succeededFuture(0);
    }
    long now = System.currentTimeMillis() / 1000;
    String key = prefix + "rate:predict:" + userId + ":" + now / 60;
    return redis.send(Request.cmd(Command.INCR).arg(key))
        .compose(count -> redis.send(Request.cmd(Command.EXPIRE).arg(key).arg(120)).map(x -> count.toLong()))
        .timeout(250, TimeUnit.MILLISECONDS)
        .map(count -> count > perMinute ? (int) (60 - now % 60) : 0)
        .otherwise(0);
  }
}
