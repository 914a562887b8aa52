package io.osprey.storage;

import io.osprey.config.Config;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

/**
 * The service's Redis client, shared by readiness, the status cache, the rate limiter, the event log and the worker
 * heartbeat. It lives in the base layer so that every module (and health) can take it without importing another.
 */
public final class RedisClients {
  private RedisClients() {
  }

  public static Redis create(Vertx vertx, Config config) {
    RedisOptions options = new RedisOptions()
        .setConnectionString("redis://" + config.string("redis.host") + ":" + config.integer("redis.port"))
        .setMaxPoolSize(16)
        .setMaxPoolWaiting(256)
        .setPoolRecycleTimeout(15_000);
    if (!config.string("redis.password").isEmpty()) {
      options.setPassword(config.string("redis.password"));
    }
    return Redis.createClient(vertx, options);
  }
}
