package io.osprey.events;

import io.osprey.bus.Bus;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One per process (every role: workers create annotations too): consumes {@link Bus#ANNOTATION_EVENTS} and appends
 * each committed change's events to the shared {@link EventLog}, in commit order. Its state lives on this verticle's
 * context only (the bus consumer, the Redis replies and the retry timer all run there), so it needs no locks.
 *
 * <p>Redis outages: an event that cannot be appended (Redis away) is held in memory, with every later one behind
 * it, and the whole backlog is appended, in order, as soon as Redis answers again (retried every second); every
 * instance's hub then delivers it to its subscribers, and Last-Event-ID replay finds it. So subscribers get the
 * events of an outage after it, late but not lost. The backlog is bounded (events.outage_buffer): past that the held
 * events are dropped and a {@code reset} entry takes their place in the log, which every subscriber receives (and a
 * replay crossing it too), telling it to reload. Events still held when the process stops are lost with it; they
 * remain in the outbox stream.
 */
public final class EventLogWriter extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(EventLogWriter.class);
  private static final long RETRY_MS = 1000;
  private static final long BATCH_TIMEOUT_MS = 10_000;
  /** Most events in one MULTI/EXEC (the largest bulk change is 10,000). */
  private static final int MAX_BATCH = 10_000;

  private final Redis redis;
  private final String key;
  private final int retention;
  private final int maxBacklog;
  /** Events not yet appended ({field, json}); the first {@link #inFlight} are being written. */
  private final ArrayDeque<String[]> backlog = new ArrayDeque<>();
  private int inFlight;
  private boolean writing;
  private boolean failing;
  private long dropped;
  private boolean stopped;
  private MessageConsumer<JsonArray> consumer;

  public EventLogWriter(Redis redis, String prefix, int retention, int maxBacklog) {
    this.redis = redis;
    this.key = EventLog.key(prefix);
    this.retention = retention;
    this.maxBacklog = maxBacklog;
  }

  @Override
  public Future<?> start() {
    consumer = vertx.eventBus().localConsumer(Bus.ANNOTATION_EVENTS, m -> append(m.body()));
    return consumer.completion();
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    if (!backlog.isEmpty()) {
      LOG.warn("live events: {} event(s) not yet logged to Redis are lost with this process (the outbox keeps"
          + " them)", backlog.size());
    }
    return consumer.unregister();
  }

  /**
   * Queues one change's events behind any not yet appended; they are appended as one pipelined MULTI/EXEC batch
   * with whatever else is waiting (a bulk change of thousands of annotations is one round trip, and all or none of a
   * batch is applied, so a retry does not repeat part of it). What Redis refuses waits in the backlog.
   */
  private void append(JsonArray events) {
    for (Object e : events) {
      backlog.add(new String[] {EventLog.EVENT_FIELD, ((JsonObject) e).encode()});
    }
    // Bounded only while Redis refuses: a burst that Redis is still taking (a bulk change) is not an outage.
    if (failing && backlog.size() - inFlight > maxBacklog) {
      dropWaiting();
    }
    write();
  }

  /** Replaces every waiting event not in flight by one reset entry (the backlog passed its bound). */
  private void dropWaiting() {
    int n = 0;
    Iterator<String[]> it = backlog.iterator();
    for (int i = 0; it.hasNext(); i++) {
      String[] item = it.next();
      if (i >= inFlight) {
        if (EventLog.EVENT_FIELD.equals(item[0])) {
          n++;
        }
        it.remove();
      }
    }
    dropped += n;
    LOG.error("live events: Redis has been unavailable for more than {} events; {} dropped so far, subscribers will"
        + " get a reset", maxBacklog, dropped);
    backlog.add(new String[] {EventLog.CONTROL_FIELD, new JsonObject().put("type", "reset")
        .put("reason", "live events were lost while Redis was unavailable")
        .put("message", "Reload the annotations, then follow this stream").encode()});
  }

  private void write() {
    if (writing || backlog.isEmpty() || stopped) {
      return;
    }
    writing = true;
    List<String[]> batch = new ArrayList<>(Math.min(backlog.size(), MAX_BATCH));
    for (String[] item : backlog) {
      if (batch.size() == MAX_BATCH) {
        break;
      }
      batch.add(item);
    }
    inFlight = batch.size();
    List<Request> requests = new ArrayList<>(batch.size() + 2);
    requests.add(Request.cmd(Command.MULTI));
    for (String[] item : batch) {
      requests.add(Request.cmd(Command.XADD).arg(key).arg("MAXLEN").arg("~").arg(retention).arg("*").arg(item[0])
          .arg(item[1]));
    }
    requests.add(Request.cmd(Command.EXEC));
    Future<List<Response>> sent;
    try {
      // A Redis that accepts but never answers must not stall the log: the batch is retried after the timeout (if
      // it was applied after all, its events appear twice, the only case where they do).
      sent = redis.batch(requests).timeout(BATCH_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    } catch (RuntimeException e) {
      sent = Future.failedFuture(e);
    }
    sent.onComplete(r -> {
      boolean ok = r.succeeded() && execApplied(r.result());
      writing = false;
      inFlight = 0;
      if (ok) {
        if (failing) {
          dropped = 0; // counts one outage
          LOG.info("live events: Redis is back; the events held during the outage are being logged");
        }
        failing = false;
        for (int i = 0; i < batch.size(); i++) {
          backlog.poll();
        }
        write();
        return;
      }
      if (!failing) {
        failing = true;
        LOG.warn("live events not logged to Redis ({}): held in memory (at most {}) and logged when Redis is back",
            r.failed() ? r.cause().toString() : "transaction not applied", maxBacklog);
      }
      if (backlog.size() > maxBacklog) {
        dropWaiting();
      }
      if (!stopped) {
        vertx.setTimer(RETRY_MS, t -> write());
      }
    });
  }

  private static boolean execApplied(List<Response> replies) {
    // The last reply is EXEC's: an array of the XADD ids, or null when the transaction was discarded.
    return replies != null && !replies.isEmpty() && replies.get(replies.size() - 1) != null;
  }
}
