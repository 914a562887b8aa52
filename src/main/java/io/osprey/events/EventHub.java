package io.osprey.events;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One per API instance: follows the shared annotation event log (a blocking XREAD on a connection of its own) and
 * job status changes (PSUBSCRIBE), and hands each to this instance's event-stream subscribers. Reading the shared
 * log rather than the local event bus is what makes an event produced by any instance reach the subscribers of
 * every instance.
 */
public final class EventHub extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(EventHub.class);

  /** A subscriber of annotation events. */
  public interface AnnotationSubscriber {
    void offer(EventLog.Entry entry);
  }

  private final Redis redis;
  private final EventLog log;
  private final String jobChannelPrefix;
  private final Set<AnnotationSubscriber> subscribers = new CopyOnWriteArraySet<>();
  private final Map<String, Set<Consumer<JsonObject>>> jobSubscribers = new ConcurrentHashMap<>();
  private final Set<Runnable> jobResyncs = new CopyOnWriteArraySet<>();
  private boolean jobsListenedBefore;
  private volatile boolean stopped;
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
    return Future.succeededFuture();
  }

  public void subscribe(AnnotationSubscriber s) {
    subscribers.add(s);
  }

  public void unsubscribe(AnnotationSubscriber s) {
    subscribers.remove(s);
  }

  public int subscriberCount() {
    return subscribers.size();
  }

  public void subscribeJob(String jobId, Consumer<JsonObject> s) {
    jobSubscribers.computeIfAbsent(jobId, k -> new CopyOnWriteArraySet<>()).add(s);
  }

  /**
   * {@code resync} runs each time the job-status subscription is re-established after it was lost (Redis away):
   * changes published meanwhile were missed (pub/sub keeps nothing), so a job stream re-reads its job's status
   * rather than wait for a terminal status that already went by.
   */
  public void onJobResync(Runnable resync) {
    jobResyncs.add(resync);
  }

  public void removeJobResync(Runnable resync) {
    jobResyncs.remove(resync);
  }

  public void unsubscribeJob(String jobId, Consumer<JsonObject> s) {
    jobSubscribers.computeIfPresent(jobId, (k, set) -> {
      set.remove(s);
      return set.isEmpty() ? null : set;
    });
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
              List<EventLog.Entry> entries = EventLog.entries(stream.get(1));
              for (EventLog.Entry entry : entries) {
                cursor = entry.id();
                for (AnnotationSubscriber s : subscribers) {
                  s.offer(entry);
                }
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
          String channel = message.get(2).toString();
          Set<Consumer<JsonObject>> set = jobSubscribers.get(channel.substring(jobChannelPrefix.length()));
          if (set != null) {
            JsonObject status = new JsonObject(message.get(3).toString());
            set.forEach(s -> s.accept(status));
          }
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
          jobResyncs.forEach(Runnable::run);
        }
        jobsListenedBefore = true;
      });
    }).onFailure(e -> {
      LOG.warn("job events: {}; retrying in 1 s", e.toString());
      vertx.setTimer(1000, t -> listenJobs());
    });
  }
}
