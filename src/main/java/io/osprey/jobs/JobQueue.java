package io.osprey.jobs;

import com.rabbitmq.client.AMQP;
import io.osprey.config.Config;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.rabbitmq.QueueOptions;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQConsumer;
import io.vertx.rabbitmq.RabbitMQMessage;
import io.vertx.rabbitmq.RabbitMQOptions;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable job queue on RabbitMQ: a quorum queue (replicated, and it counts redeliveries in
 * {@code x-delivery-count}), persistent messages published with confirms, manual acknowledgement. The client
 * reconnects by itself; on every (re)connection the queue is declared again and, for workers, consuming resumes.
 */
public final class JobQueue {
  private static final Logger LOG = LoggerFactory.getLogger(JobQueue.class);

  private final RabbitMQClient client;
  private final String queue;
  private int prefetch;
  private Handler<RabbitMQMessage> consumerHandler;
  private RabbitMQConsumer consumer;
  private boolean confirming;

  public JobQueue(Vertx vertx, Config config, String connectionName) {
    this.queue = config.string("jobs.queue");
    RabbitMQOptions options = brokerOptions(config, connectionName)
        .setConnectionTimeout(5000)
        .setAutomaticRecoveryEnabled(false)
        .setReconnectAttempts(Integer.MAX_VALUE)
        .setReconnectInterval(2000);
    this.client = RabbitMQClient.create(vertx, options);
    client.addConnectionEstablishedCallback(this::onConnected);
  }

  /** Where and as whom to connect to RabbitMQ (AMQP); callers add their own reconnect policy. */
  public static RabbitMQOptions brokerOptions(Config config, String connectionName) {
    return new RabbitMQOptions()
        .setHost(config.string("rabbitmq.host"))
        .setPort(config.integer("rabbitmq.port"))
        .setUser(config.string("rabbitmq.user"))
        .setPassword(config.string("rabbitmq.password"))
        .setVirtualHost(config.string("rabbitmq.vhost"))
        .setConnectionName(connectionName);
  }

  public String queueName() {
    return queue;
  }

  /** Connects in the background; the returned future completes on the first connection (or fails). */
  public Future<Void> start() {
    return client.start().onFailure(e -> LOG.warn("RabbitMQ not reachable yet ({}); retrying in the background",
        e.getMessage()));
  }

  public boolean connected() {
    return client.isConnected();
  }

  private void onConnected(Promise<Void> promise) {
    confirming = false;
    client.queueDeclare(queue, true, false, false, new JsonObject().put("x-queue-type", "quorum"))
        .compose(ok -> consumerHandler == null ? Future.succeededFuture() : consume())
        .onSuccess(x -> LOG.info("job queue {} ready{}", queue, consumerHandler == null ? "" : ", consuming"))
        .onComplete(done -> promise.handle(done.mapEmpty()));
  }

  /** Publishes a job id persistently and waits for the broker's confirm. */
  public Future<Void> publish(String jobId) {
    if (!client.isConnected()) {
      return Future.failedFuture("RabbitMQ is not connected");
    }
    AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
        .deliveryMode(2)
        .contentType("application/json")
        .messageId(jobId)
        .build();
    Future<Void> confirmed = confirming ? Future.succeededFuture() : client.confirmSelect().onSuccess(x -> confirming = true);
    return confirmed
        .compose(x -> client.basicPublish("", queue, props, new JsonObject().put("job_id", jobId).toBuffer()))
        .compose(x -> client.waitForConfirms(5000));
  }

  /** Starts consuming (now if connected, else on connection) with {@code prefetch} unacknowledged jobs at most. */
  public Future<Void> consume(int prefetch, Handler<RabbitMQMessage> handler) {
    this.prefetch = prefetch;
    this.consumerHandler = handler;
    return client.isConnected() ? consume() : Future.succeededFuture();
  }

  private Future<Void> consume() {
    RabbitMQConsumer previous = consumer;
    Future<Void> cancelled = previous == null ? Future.succeededFuture() : previous.cancel().otherwiseEmpty();
    return cancelled
        .compose(x -> client.basicQos(prefetch))
        .compose(x -> client.basicConsumer(queue, new QueueOptions().setAutoAck(false).setMaxInternalQueueSize(
            Math.max(prefetch, 1) * 2)))
        .map(c -> {
          consumer = c;
          c.handler(consumerHandler);
          c.exceptionHandler(e -> LOG.warn("job consumer error: {}", e.toString()));
          return null;
        });
  }

  /**
   * Stops taking deliveries (a shutting-down worker): the consumer is cancelled and not renewed on reconnection.
   * The channel stays open, so deliveries already taken can still be acknowledged or handed back.
   */
  public Future<Void> stopConsuming() {
    consumerHandler = null;
    RabbitMQConsumer current = consumer;
    consumer = null;
    return current == null ? Future.succeededFuture() : current.cancel().otherwiseEmpty();
  }

  public Future<Void> ack(RabbitMQMessage message) {
    return client.basicAck(message.envelope().getDeliveryTag(), false);
  }

  /** Hands the message back to the broker, which delivers it again (counting the delivery). */
  public Future<Void> requeue(RabbitMQMessage message) {
    return client.basicNack(message.envelope().getDeliveryTag(), false, true);
  }

  /** How many times the broker delivered this message before (0 on the first delivery). */
  public static long previousDeliveries(RabbitMQMessage message) {
    Map<String, Object> headers = message.properties() == null ? null : message.properties().getHeaders();
    Object count = headers == null ? null : headers.get("x-delivery-count");
    return count instanceof Number n ? n.longValue() : 0;
  }

  public static String jobId(RabbitMQMessage message) {
    Buffer body = message.body();
    return new JsonObject(body).getString("job_id");
  }

  public Future<Long> length() {
    return client.isConnected() ? client.messageCount(queue) : Future.failedFuture("RabbitMQ is not connected");
  }

  public Future<Void> close() {
    return client.stop().otherwiseEmpty();
  }
}
