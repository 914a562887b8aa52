package io.osprey.jobs;

import io.osprey.bus.Bus;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import io.vertx.rabbitmq.RabbitMQMessage;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker side of the job queue: takes jobs from RabbitMQ, at most {@code slots} at a time, and hands each to
 * the runner over the event bus. A delivery is acknowledged as soon as the runner has settled the job's lease
 * (taken it, or found the job finished or held by another live worker), so no delivery stays unacknowledged for
 * a job's whole run and the broker's consumer timeout never applies; from then on the lease in PostgreSQL keeps
 * the job (see {@link JobRunnerVerticle}). While all slots are busy this worker does not consume, so the broker
 * gives waiting jobs to other workers instead of holding them here unacknowledged.
 */
public final class JobConsumerVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(JobConsumerVerticle.class);
  private static final DeliveryOptions RUN = new DeliveryOptions().setSendTimeout(24L * 3600 * 1000);

  private final JobQueue queue;
  private final int slots;
  private final Map<String, JobQueue.Delivery> unsettled = new HashMap<>();
  private int running;
  private String leaseAddress;
  private MessageConsumer<JsonObject> leases;

  public JobConsumerVerticle(JobQueue queue, int slots) {
    this.queue = queue;
    this.slots = slots;
  }

  @Override
  public Future<?> start() {
    leaseAddress = "osprey.jobs.leased." + deploymentID();
    leases = vertx.eventBus().<JsonObject>localConsumer(leaseAddress, m -> {
      JobQueue.Delivery delivery = unsettled.remove(m.body().getString("job_id"));
      if (delivery != null) {
        queue.ack(delivery).onFailure(e -> LOG.info("ack of job {} not sent ({}); a redelivery will find it held",
            delivery.jobId(), e.getMessage()));
      }
    });
    // One delivery in flight at a time: it is acknowledged within a database round trip.
    queue.consume(1, this::onMessage);
    queue.start();
    return leases.completion();
  }

  private void onMessage(JobQueue.Delivery delivery) {
    String jobId = delivery.jobId();
    if (jobId == null) {
      LOG.error("dropping unreadable job message");
      queue.ack(delivery);
      return;
    }
    if (running >= slots || unsettled.containsKey(jobId)) {
      // Delivered while the consumer was being paused, or a copy of a job this worker is settling: hand it back.
      vertx.setTimer(1000, t -> queue.requeue(delivery));
      return;
    }
    running++;
    if (running >= slots) {
      queue.pause();
    }
    unsettled.put(jobId, delivery);
    JsonObject request = new Bus.RunJob(jobId, 1).toJson().put(JobRunnerVerticle.LEASE_ADDRESS, leaseAddress);
    vertx.eventBus().request(Bus.JOBS_RUN, request, RUN)
        .onFailure(e -> {
          boolean handedBack = e instanceof io.vertx.core.eventbus.ReplyException r
              && r.failureCode() == Bus.FAILURE_HANDED_BACK;
          if (unsettled.remove(jobId) != null) {
            if (handedBack) {
              // A stopping worker that never took the lease: the delivery goes back now, before this process's
              // connection closes (uncounted: attempts count lease takes only).
              queue.requeue(delivery).onFailure(x -> LOG.info("job {}: requeue failed ({}); the broker returns it"
                  + " when the connection closes", jobId, x.getMessage()));
              return;
            }
            // The lease could not even be looked at (database away): the broker delivers the job again.
            LOG.warn("job {} handed back to the queue: {}", jobId, e.getMessage());
            vertx.setTimer(2000, t -> queue.requeue(delivery));
          } else if (handedBack) {
            LOG.info("job {} handed back by this stopping worker: lease released and job published again", jobId);
          } else {
            LOG.warn("job {} stopped on this worker: {}; its lease lapses and the sweep hands it on", jobId,
                e.getMessage());
          }
        })
        .onComplete(x -> {
          running--;
          if (running < slots) {
            queue.resume();
          }
        });
  }

  @Override
  public Future<?> stop() {
    return queue.close();
  }
}
