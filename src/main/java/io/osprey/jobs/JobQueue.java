package io.osprey.jobs;

import com.rabbitmq.client.AMQP;
import io.osprey.config.Config;
import io.vertx.core.Context;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable job queue on RabbitMQ: a quorum queue (replicated), persistent messages published with confirms,
 * manual acknowledgement.
 *
 * <p>Connection and consumer supervision is this class's own (the client's built-in restart is off): a check every
 * {@value #SUPERVISE_MS} ms reconnects a lost connection (which declares the queue again and, for workers,
 * consumes again), and a worker whose channel closed under it (a broker-side channel error) consumes again on a
 * fresh channel. A delivery remembers the channel generation it came on; it is never acknowledged on a later
 * channel, where its tag means nothing and the broker would close that channel too ("unknown delivery tag").
 * A worker pauses consuming (cancels its consumer) while all its slots are busy and resumes when one frees.
 */
public final class JobQueue {
  private static final Logger LOG = LoggerFactory.getLogger(JobQueue.class);
  static final long SUPERVISE_MS = 2000;

  /** A job message as the consumer sees it: its job id (null when unreadable) and the channel it came on. */
  public record Delivery(String jobId, RabbitMQMessage message, long channelGeneration) {
  }

  private final Vertx vertx;
  private final RabbitMQClient client;
  private final String queue;
  private int prefetch;
  private Handler<Delivery> consumerHandler;
  private RabbitMQConsumer consumer;
  private boolean confirming;
  /** Bumped whenever the channel carrying the consumer is found gone; deliveries of older ones are not acked. */
  private long generation;
  private boolean paused;
  private boolean subscribing;
  private boolean reconnecting;
  private boolean closed;
  /** Set by {@link #stopConsuming()}: never consume again (a draining worker). */
  private boolean stopped;
  private long supervisor = -1;
  private Context context;

  /** {@code broker}: where and as whom to connect (see {@link #brokerOptions}); it is copied, not changed. */
  public JobQueue(Vertx vertx, String queue, RabbitMQOptions broker) {
    this.vertx = vertx;
    this.queue = queue;
    RabbitMQOptions options = new RabbitMQOptions(broker)
        .setConnectionTimeout(5000)
        .setAutomaticRecoveryEnabled(false)
        .setReconnectAttempts(0);
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

  /**
   * Connects in the background and keeps the connection (and the consumer) up; the returned future completes on
   * the first connection (or fails, and the supervision keeps trying).
   */
  public Future<Void> start() {
    context = vertx.getOrCreateContext();
    if (supervisor < 0) {
      supervisor = vertx.setPeriodic(SUPERVISE_MS, t -> supervise());
    }
    reconnecting = true;
    return client.start()
        .onComplete(x -> context.runOnContext(v -> reconnecting = false))
        .onFailure(e -> LOG.warn("RabbitMQ not reachable yet ({}); retrying in the background", e.getMessage()));
  }

  public boolean connected() {
    return client.isConnected();
  }

  private void supervise() {
    if (closed || reconnecting) {
      return;
    }
    if (!client.isConnected()) {
      reconnecting = true;
      channelGone();
      LOG.info("RabbitMQ connection lost; reconnecting");
      client.stop().otherwiseEmpty().compose(x -> client.start())
          .onSuccess(x -> LOG.info("RabbitMQ connection back"))
          .onComplete(x -> context.runOnContext(v -> reconnecting = false));
      return;
    }
    if (consumerHandler != null && !stopped && !paused && (consumer == null || !client.isOpenChannel())) {
      if (consumer != null) {
        LOG.warn("job consumer's channel closed; consuming again on a new channel");
      }
      checkChannel();
      subscribe();
    }
  }

  /** Whether the channel the consumer was made on is gone (its deliveries cannot be acknowledged any more). */
  private void checkChannel() {
    if (consumer != null && !client.isOpenChannel()) {
      channelGone();
    }
  }

  private void channelGone() {
    generation++;
    consumer = null;
  }

  private void onConnected(Promise<Void> promise) {
    // Called on the client's connecting thread: state changes go to this queue's context.
    client.queueDeclare(queue, true, false, false, new JsonObject().put("x-queue-type", "quorum"))
        .onComplete(declared -> context.runOnContext(v -> {
          confirming = false;
          channelGone();
          if (declared.succeeded()) {
            LOG.info("job queue {} ready", queue);
            subscribe();
          }
          promise.handle(declared.mapEmpty());
        }));
  }

  /**
   * Publishes a job id persistently and waits for the broker's confirm. The queue's state belongs to the context
   * that started it; a caller on another event loop (one of several HTTP verticle instances) is served there and
   * gets its answer back on its own context.
   */
  public Future<Void> publish(String jobId) {
    Context caller = Vertx.currentContext();
    if (context == null || caller == null || caller == context) {
      return publishHere(jobId);
    }
    Promise<Void> answer = Promise.promise();
    context.runOnContext(v -> publishHere(jobId).onComplete(r -> caller.runOnContext(x -> answer.handle(r))));
    return answer.future();
  }

  private Future<Void> publishHere(String jobId) {
    checkChannel(); // before the client replaces a closed channel, so a consumer on it is noticed gone
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

  /**
   * Starts consuming (now if connected, else on connection) with {@code prefetch} unacknowledged jobs at most.
   * Call before {@link #start()}, on the context that calls it.
   */
  public void consume(int prefetch, Handler<Delivery> handler) {
    this.prefetch = prefetch;
    this.consumerHandler = handler;
  }

  /** Stops taking deliveries until {@link #resume()} (the worker's slots are all busy). */
  public void pause() {
    paused = true;
    RabbitMQConsumer current = consumer;
    consumer = null;
    if (current != null) {
      cancel(current);
    }
  }

  public void resume() {
    if (paused) {
      paused = false;
      subscribe();
    }
  }

  private static void cancel(RabbitMQConsumer c) {
    try {
      c.cancel();
    } catch (RuntimeException e) {
      LOG.debug("consumer not cancelled: {}", e.toString()); // its channel is gone, and the consumer with it
    }
  }

  private void subscribe() {
    if (consumerHandler == null || stopped || paused || subscribing || closed || consumer != null || !client.isConnected()) {
      return;
    }
    subscribing = true;
    long gen = generation;
    client.basicQos(prefetch)
        .compose(x -> client.basicConsumer(queue, new QueueOptions().setAutoAck(false)
            .setMaxInternalQueueSize(Math.max(prefetch, 1) * 2)))
        .onComplete(made -> {
          // On this queue's context, in the same turn as the client's resume: the handler must be set before the
          // first delivery is dispatched (a consumer without a handler loses deliveries, unacknowledged).
          subscribing = false;
          if (made.failed()) {
            LOG.warn("job consumer not started ({}); retrying", made.cause().getMessage());
            return;
          }
          RabbitMQConsumer c = made.result();
          if (paused || closed || stopped || gen != generation) {
            // Not wanted any more: whatever reaches it before the cancel goes back to the broker.
            c.handler(m -> client.basicNack(m.envelope().getDeliveryTag(), false, true));
            cancel(c);
            if (!paused && !closed && !stopped) {
              subscribe();
            }
            return;
          }
          consumer = c;
          c.exceptionHandler(e -> LOG.warn("job consumer error: {}", e.toString()));
          c.handler(m -> {
            String jobId;
            try {
              jobId = jobId(m);
            } catch (RuntimeException e) {
              jobId = null;
            }
            Delivery d = new Delivery(jobId, m, gen);
            context.runOnContext(x -> consumerHandler.handle(d));
          });
          LOG.info("consuming job queue {}", queue);
        });
  }

  /**
   * Stops taking deliveries for good (a shutting-down worker): the consumer is cancelled, and neither the
   * supervision check nor a reconnection consumes again (both go through {@link #subscribe()}, which a stopped
   * queue refuses; a consumer still being made when this is called is cancelled as it arrives).
   * The channel stays open, so publishing (a lease handed back) still works.
   */
  public Future<Void> stopConsuming() {
    if (context != null && Vertx.currentContext() != context) {
      Promise<Void> done = Promise.promise();
      context.runOnContext(v -> stopConsuming().onComplete(done));
      return done.future();
    }
    stopped = true;
    consumerHandler = null;
    RabbitMQConsumer current = consumer;
    consumer = null;
    if (current == null) {
      return Future.succeededFuture();
    }
    try {
      return current.cancel().otherwiseEmpty();
    } catch (RuntimeException e) {
      return Future.succeededFuture(); // its channel is gone, and the consumer with it
    }
  }

  /** Acknowledges a delivery, unless its channel is gone (the broker has put the job back already). */
  public Future<Void> ack(Delivery d) {
    checkChannel();
    if (d.channelGeneration() != generation) {
      return Future.failedFuture("the channel of this delivery closed; the broker delivers it again");
    }
    return client.basicAck(d.message().envelope().getDeliveryTag(), false);
  }

  /** Hands the message back to the broker, which delivers it again (unless its channel is gone: then it did). */
  public Future<Void> requeue(Delivery d) {
    checkChannel();
    if (d.channelGeneration() != generation) {
      return Future.succeededFuture();
    }
    return client.basicNack(d.message().envelope().getDeliveryTag(), false, true);
  }

  public static String jobId(RabbitMQMessage message) {
    Buffer body = message.body();
    return new JsonObject(body).getString("job_id");
  }

  public Future<Long> length() {
    checkChannel();
    return client.isConnected() ? client.messageCount(queue) : Future.failedFuture("RabbitMQ is not connected");
  }

  public Future<Void> close() {
    closed = true;
    if (supervisor >= 0) {
      vertx.cancelTimer(supervisor);
    }
    return client.stop().otherwiseEmpty();
  }
}
