package io.osprey.events;

import io.osprey.bus.Bus;
import io.osprey.bus.Bus.JobStatusChanged;
import io.osprey.bus.Bus.LoggedEvent;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One per API instance: follows the shared annotation event log (a blocking XREAD on a connection of its own) and
 * job status changes (PSUBSCRIBE), and publishes each on this instance's local event bus
 * ({@link Bus#EVENTS_ANNOTATIONS}, {@link Bus#EVENTS_JOB_STATUS}): each HTTP instance takes annotation events once
 * and hands them to its connections' streams, each job stream consumes job changes on its own connection's context. Reading the shared log rather than {@link Bus#ANNOTATION_EVENTS} is what makes an event
 * produced by any instance reach the subscribers of every instance.
 */
public final class EventHub extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(EventHub.class);
  private static final DeliveryOptions LOCAL = Bus.local();

  private final Redis redis;
  private final EventLog log;
  private final String jobChannelPrefix;
  // All state below is touched on this verticle's context only (Redis replies and timers run there).
  private boolean jobsListenedBefore;
  private boolean stopped;
  private RedisConnection reader;
  private RedisConnection pubsub;
  private String cursor;

  public EventHub(Redis redis, EventLog log, String prefix) {
    this.redis = redis;
    this.log = log;
    this.jobChannelPrefix = prefix + "jobs:";
  }

  public static String jobChannel(String prefix, String jobId) {
    return prefix + "jobs:" + jobId;
  }

  @Override
  public Future<?> start() {
    Bus.registerLocalCodecs(vertx.eventBus());
    follow();
    listenJobs();
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    if (reader != null) {
      reader.close();
    }
    if (pubsub != null) {
      pubsub.close();
    }
    Bus.unregisterLocalCodecs(vertx.eventBus());
    return Future.succeededFuture();
  }

  /** Reads the log from its newest entry on, forever; reconnects after errors. */
  private void follow() {
    if (stopped) {
      return;
    }
    Future<String> start = cursor != null ? Future.succeededFuture(cursor) : log.newest();
    start.compose(id -> {
      cursor = id;
      return redis.connect();
    }).onSuccess(conn -> {
      reader = conn;
      conn.exceptionHandler(e -> LOG.debug("event log reader: {}", e.toString()));
      readNext(conn);
    }).onFailure(e -> retryFollow(e));
  }

  private void retryFollow(Throwable e) {
    if (stopped) {
      return;
    }
    LOG.warn("event log reader: {}; retrying in 1 s", e.toString());
    vertx.setTimer(1000, t -> follow());
  }

  private void readNext(RedisConnection conn) {
    if (stopped) {
      return;
    }
    conn.send(Request.cmd(Command.XREAD).arg("COUNT").arg(1000).arg("BLOCK").arg(5000).arg("STREAMS")
        .arg(log.key()).arg(cursor)).onSuccess(r -> {
          if (r != null) {
            for (Response stream : r) {
              for (LoggedEvent entry : EventLog.entries(stream.get(1))) {
                cursor = entry.id();
                vertx.eventBus().publish(Bus.EVENTS_ANNOTATIONS, entry, LOCAL);
              }
            }
          }
          readNext(conn);
        }).onFailure(e -> {
          conn.close();
          retryFollow(e);
        });
  }

  private void listenJobs() {
    if (stopped) {
      return;
    }
    redis.connect().onSuccess(conn -> {
      pubsub = conn;
      conn.handler(message -> {
        // RESP2 pub/sub push: ["pmessage", pattern, channel, payload]
        if (message.size() == 4 && "pmessage".equals(message.get(0).toString())) {
          String jobId = message.get(2).toString().substring(jobChannelPrefix.length());
          vertx.eventBus().publish(Bus.EVENTS_JOB_STATUS,
              new JobStatusChanged(jobId, new JsonObject(message.get(3).toString())), LOCAL);
        }
      });
      conn.exceptionHandler(e -> LOG.debug("job events: {}", e.toString()));
      conn.endHandler(v -> {
        if (!stopped) {
          vertx.setTimer(1000, t -> listenJobs());
        }
      });
      conn.send(Request.cmd(Command.PSUBSCRIBE).arg(jobChannelPrefix + "*")).onSuccess(r -> {
        if (jobsListenedBefore) {
          vertx.eventBus().publish(Bus.EVENTS_JOB_RESYNC, null, LOCAL);
        }
        jobsListenedBefore = true;
      });
    }).onFailure(e -> {
      LOG.warn("job events: {}; retrying in 1 s", e.toString());
      vertx.setTimer(1000, t -> listenJobs());
    });
  }
}
