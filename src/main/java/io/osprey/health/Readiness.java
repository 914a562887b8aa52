package io.osprey.health;

import io.osprey.config.Config;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.healthchecks.HealthCheckHandler;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.sqlclient.Pool;

/**
 * {@code GET /health/ready}: one check per real dependency, each answering with what it reached or why not, so an
 * operator sees at once which server is down. The handler answers 503 when any check is down. Health knows checks,
 * not modules: the servers every role uses are checked here, and each module registers its own checks with
 * {@link #addCheck} (the job queue's broker, the outbox, the default model, the disk guard).
 */
public final class Readiness {
  /**
   * What readiness reads: the per-check timeout and the servers every role checks (shown as each check's target).
   */
  public record Settings(int timeoutMs, String postgresTarget, String redisTarget, String streamHost,
                         int streamPort) {

    public static Settings from(Config config) {
      return new Settings(config.integer("health.check_timeout_ms"), config.string("postgres.host") + ":"
          + config.integer("postgres.port") + "/" + config.string("postgres.database"),
          config.string("redis.host") + ":" + config.integer("redis.port"), config.string("rabbitmq.stream_host"),
          config.integer("rabbitmq.stream_port"));
    }
  }

  private final Vertx vertx;
  private final Settings settings;
  private final Pool pool;
  private final Redis redis;

  private final NetClient net;

  public Readiness(Vertx vertx, Settings settings, Pool pool, Redis redis) {
    this.vertx = vertx;
    this.settings = settings;
    this.pool = pool;
    this.redis = redis;
    this.net = vertx.createNetClient(new NetClientOptions().setConnectTimeout(settings.timeoutMs()));
  }

  private record Extra(String id, java.util.function.Supplier<Future<Void>> probe, String target,
                       java.util.function.Supplier<JsonObject> details) {
  }

  private final java.util.List<Extra> extras = new java.util.ArrayList<>();

  /** A further check of this process's own (the worker role adds its default model); before {@link #handler}. */
  public void addCheck(String id, java.util.function.Supplier<Future<Void>> probe, String target) {
    addCheck(id, probe, target, JsonObject::new);
  }

  /** The same, with {@code details} added to the check's data whether it is up or down. */
  public void addCheck(String id, java.util.function.Supplier<Future<Void>> probe, String target,
                       java.util.function.Supplier<JsonObject> details) {
    extras.add(new Extra(id, probe, target, details));
  }

  public HealthCheckHandler handler() {
    long timeout = settings.timeoutMs();
    HealthCheckHandler handler = HealthCheckHandler.create(vertx);
    for (Extra extra : extras) {
      handler.register(extra.id(), timeout, p -> complete(p, extra.probe().get(), extra.target(), extra.details()));
    }
    return handler
        .register("postgres", timeout, p -> complete(p, pool.query("SELECT 1").execute().mapEmpty(),
            settings.postgresTarget()))
        .register("redis", timeout, p -> complete(p, redis.send(Request.cmd(Command.PING)).mapEmpty(),
            settings.redisTarget()))
        .register("rabbitmq_stream", timeout, p -> complete(p,
            net.connect(settings.streamPort(), settings.streamHost()).compose(socket -> socket.close()),
            settings.streamHost() + ":" + settings.streamPort()));
  }

  private static void complete(Promise<Status> promise, Future<Void> probe, String target) {
    complete(promise, probe, target, JsonObject::new);
  }

  private static void complete(Promise<Status> promise, Future<Void> probe, String target,
                               java.util.function.Supplier<JsonObject> details) {
    probe.onComplete(result -> {
      JsonObject data = new JsonObject().put("target", target).mergeIn(details.get());
      if (result.succeeded()) {
        promise.tryComplete(Status.OK(data));
      } else {
        String reason = result.cause().getMessage();
        promise.tryComplete(Status.KO(data.put("error", reason == null ? result.cause().toString() : reason)));
      }
    });
  }

  public Future<Void> close() {
    return net.close().otherwiseEmpty();
  }
}
