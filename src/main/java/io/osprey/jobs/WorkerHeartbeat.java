package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.concurrent.TimeUnit;

/**
 * Worker processes announce themselves every few seconds in one Redis hash (worker id to last beat), so any API
 * instance can tell the dashboard how many workers are alive without a registry service.
 */
public final class WorkerHeartbeat implements JobsApi.Workers {
  static final long STALE_MS = 15_000;
  private final Redis redis;
  private final String key;

  public WorkerHeartbeat(Redis redis, String prefix) {
    this.redis = redis;
    this.key = prefix + "workers";
  }

  public Future<Void> beat(String workerId) {
    return redis.send(Request.cmd(Command.HSET).arg(key).arg(workerId).arg(System.currentTimeMillis()))
        .timeout(1, TimeUnit.SECONDS).<Void>mapEmpty().otherwiseEmpty();
  }

  public Future<Void> leave(String workerId) {
    return redis.send(Request.cmd(Command.HDEL).arg(key).arg(workerId))
        .timeout(1, TimeUnit.SECONDS).<Void>mapEmpty().otherwiseEmpty();
  }

  @Override
  public Future<Integer> alive() {
    return redis.send(Request.cmd(Command.HGETALL).arg(key)).timeout(1, TimeUnit.SECONDS).map(r -> {
      long now = System.currentTimeMillis();
      int alive = 0;
      if (r != null) {
        for (String field : r.getKeys()) {
          Response beat = r.get(field);
          if (beat != null && now - beat.toLong() < STALE_MS) {
            alive++;
          }
        }
      }
      return alive;
    });
  }
}
