package io.osprey.jobs;

import io.osprey.bus.Bus;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.rabbitmq.RabbitMQMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker side of the job queue: takes at most {@code prefetch} unacknowledged jobs from RabbitMQ and hands
 * each to the runner over the event bus. A job is acknowledged only once the runner reports it in a final or
 * safely recorded state; if this process dies first, the broker delivers the job to another worker.
 */
public final class JobConsumerVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(JobConsumerVerticle.class);
  private static final DeliveryOptions RUN = new DeliveryOptions().setSendTimeout(24L * 3600 * 1000);

  private final JobQueue queue;
  private final int prefetch;

  public JobConsumerVerticle(JobQueue queue, int prefetch) {
    this.queue = queue;
    this.prefetch = prefetch;
  }

  @Override
  public Future<?> start() {
    queue.consume(prefetch, this::onMessage);
    queue.start();
    return Future.succeededFuture();
  }

  private void onMessage(RabbitMQMessage message) {
    String jobId;
    try {
      jobId = JobQueue.jobId(message);
    } catch (RuntimeException e) {
      LOG.error("dropping unreadable job message: {}", e.toString());
      queue.ack(message);
      return;
    }
    long deliveries = JobQueue.previousDeliveries(message) + 1;
    vertx.eventBus().request(Bus.JOBS_RUN, new Bus.RunJob(jobId, deliveries).toJson(), RUN)
        .onSuccess(reply -> queue.ack(message)
            .onFailure(e -> LOG.warn("ack of job {} failed ({}); it will be delivered again and found finished",
                jobId, e.getMessage())))
        .onFailure(e -> {
          if (e instanceof io.vertx.core.eventbus.ReplyException r && r.failureCode() == Bus.FAILURE_HANDED_BACK) {
            // A stopping worker: the job goes back now, before this process's connection closes.
            queue.requeue(message).onFailure(x -> LOG.info("job {}: requeue failed ({}); the broker returns it when"
                + " the connection closes", jobId, x.getMessage()));
            return;
          }
          LOG.warn("job {} handed back to the queue: {}", jobId, e.getMessage());
          vertx.setTimer(2000, t -> queue.requeue(message));
        });
  }

  @Override
  public Future<?> stop() {
    return queue.close();
  }
}
