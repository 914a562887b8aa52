package io.osprey.jobs;

import io.osprey.config.Config;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQOptions;

/**
 * The readiness probe of the job queue's broker (RabbitMQ, AMQP). The jobs module registers it with health, so that
 * health knows checks, not modules. It keeps its own connection, apart from the queue's, so that it reports whether
 * a fresh client can reach the broker.
 */
public final class BrokerCheck {
  private final Vertx vertx;
  private final Config config;
  private RabbitMQClient rabbit;
  private Future<Void> connecting;

  public BrokerCheck(Vertx vertx, Config config) {
    this.vertx = vertx;
    this.config = config;
  }

  /** Where the probe connects, as readiness shows it. */
  public String target() {
    return config.string("rabbitmq.host") + ":" + config.integer("rabbitmq.port");
  }

  /** Reuses one AMQP connection; after the broker drops it, the next probe opens a fresh client. */
  public synchronized Future<Void> probe() {
    if (rabbit != null && rabbit.isConnected()) {
      return Future.succeededFuture();
    }
    if (connecting != null) {
      return connecting;
    }
    RabbitMQClient previous = rabbit;
    if (previous != null) {
      previous.stop();
    }
    RabbitMQOptions options = JobQueue.brokerOptions(config, "osprey-readiness")
        .setConnectionTimeout(config.integer("health.check_timeout_ms"))
        .setAutomaticRecoveryEnabled(false)
        .setReconnectAttempts(0);
    RabbitMQClient client = RabbitMQClient.create(vertx, options);
    rabbit = client;
    Future<Void> attempt = client.start();
    connecting = attempt;
    attempt.onComplete(done -> {
      synchronized (this) {
        connecting = null;
      }
    });
    return attempt;
  }

  public synchronized Future<Void> close() {
    return rabbit == null ? Future.succeededFuture() : rabbit.stop().otherwiseEmpty();
  }
}
