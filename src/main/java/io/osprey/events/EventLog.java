package io.osprey.events;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bounded, durable log of annotation live events: a Redis stream shared by every instance (key
 * {@code <prefix>annotation-events}, trimmed to about events.retention_count entries). The entry id is the SSE
 * event id, so a client's Last-Event-ID is a position in it.
 *
 * <p>Redis outages: events are appended in commit order through one writer per instance. An event that cannot be
 * appended (Redis away) is held in memory, with every later one behind it, and the whole backlog is appended, in
 * order, as soon as Redis answers again (retried every second); every instance's hub then delivers it to its
 * subscribers, and Last-Event-ID replay finds it. So subscribers get the events of an outage after it, late but not
 * lost. The backlog is bounded (events.outage_buffer): past that the held events are dropped and a {@code reset}
 * entry takes their place in the log, which every subscriber receives (and a replay crossing it too), telling it to
 * reload. Events still held when the process stops are lost with it; they remain in the outbox stream.
 */
public final class EventLog {
  private static final Logger LOG = LoggerFactory.getLogger(EventLog.class);
  /** The field of an annotation event in a log entry. */
  static final String EVENT_FIELD = "e";
  /** The field of a control entry (a reset written after events were dropped). */
  static final String CONTROL_FIELD = "c";
  private static final long RETRY_MS = 1000;
  private static final long BATCH_TIMEOUT_MS = 10_000;
  /** Most events in one MULTI/EXEC (the largest bulk change is 10,000). */
  private static final int MAX_BATCH = 10_000;

  /**
   * One logged event, with its SSE frame made once: the hub hands the same entry to every subscriber, and encoding
   * per subscriber would repeat the work thousands of times per event. The frame is a default-type SSE frame
   * ({@code id:} and {@code data:}, no {@code event:} line, so EventSource.onmessage gets it) whose JSON has
   * {@code "type"}: {@code "annotation"} before the AnnotationEventDto fields, or {@code "reset"} for a control
   * entry, which every subscriber gets whatever its filter.
   */
  public record Entry(String id, JsonObject event, String frame, boolean control) {
    static Entry of(String id, String field, String json) {
      JsonObject body = new JsonObject(json);
      boolean control = CONTROL_FIELD.equals(field);
      JsonObject data = control ? body : new JsonObject().put("type", "annotation").mergeIn(body);
      return new Entry(id, body, EventStreams.frame(id, data), control);
    }
  }

  private final Vertx vertx;
  private final Redis redis;
  private final String key;
  private final int retention;
  private final int maxBacklog;
  // Guarded by this: events not yet appended (the head may be in flight), and whether a write is in flight.
  private final ArrayDeque<String[]> backlog = new ArrayDeque<>();
  private int inFlight;
  private boolean writing;
  private boolean failing;
  private long dropped;

  public EventLog(Vertx vertx, Redis redis, String prefix, int retention, int maxBacklog) {
    this.vertx = vertx;
    this.redis = redis;
    this.key = prefix + "annotation-events";
    this.retention = retention;
    this.maxBacklog = maxBacklog;
  }

  public String key() {
    return key;
  }

  /**
   * Queues events for the log, in order, behind any not yet appended; they are appended as one pipelined
   * MULTI/EXEC batch with whatever else is waiting (a bulk change of thousands of annotations is one round trip, and
   * all or none of a batch is applied, so a retry does not repeat part of it). Never fails: what Redis refuses
   * waits in the backlog (see the class comment).
   */
  public void append(List<JsonObject> events) {
    synchronized (this) {
      for (JsonObject e : events) {
        backlog.add(new String[] {EVENT_FIELD, e.encode()});
      }
      // Bounded only while Redis refuses: a burst that Redis is still taking (a bulk change) is not an outage.
      if (failing && backlog.size() - inFlight > maxBacklog) {
        dropWaiting();
      }
    }
    write();
  }

  /** Events waiting to be appended (held during a Redis outage). */
  public synchronized int backlog() {
    return backlog.size();
  }

  /** Replaces every waiting event not in flight by one reset entry (the backlog passed its bound). */
  private void dropWaiting() {
    int keep = inFlight;
    int n = 0;
    java.util.Iterator<String[]> it = backlog.iterator();
    for (int i = 0; it.hasNext(); i++) {
      String[] item = it.next();
      if (i >= keep) {
        if (EVENT_FIELD.equals(item[0])) {
          n++;
        }
        it.remove();
      }
    }
    dropped += n;
    LOG.error("live events: Redis has been unavailable for more than {} events; {} dropped so far, subscribers will"
        + " get a reset", maxBacklog, dropped);
    backlog.add(new String[] {CONTROL_FIELD, new JsonObject().put("type", "reset")
        .put("reason", "live events were lost while Redis was unavailable")
        .put("message", "Reload the annotations, then follow this stream").encode()});
  }

  private void write() {
    List<String[]> batch;
    synchronized (this) {
      if (writing || backlog.isEmpty()) {
        return;
      }
      writing = true;
      batch = new ArrayList<>(Math.min(backlog.size(), MAX_BATCH));
      for (String[] item : backlog) {
        if (batch.size() == MAX_BATCH) {
          break;
        }
        batch.add(item);
      }
      inFlight = batch.size();
    }
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
      boolean recovered;
      synchronized (this) {
        writing = false;
        inFlight = 0;
        recovered = ok && failing;
        if (recovered) {
          dropped = 0; // counts one outage
        }
        if (ok) {
          for (int i = 0; i < batch.size(); i++) {
            backlog.poll();
          }
          failing = false;
        } else {
          if (!failing) {
            failing = true;
            LOG.warn("live events not logged to Redis ({}): held in memory (at most {}) and logged when Redis is"
                + " back", r.failed() ? r.cause().toString() : "transaction not applied", maxBacklog);
          }
          if (backlog.size() > maxBacklog) {
            dropWaiting();
          }
        }
      }
      if (recovered) {
        LOG.info("live events: Redis is back; the events held during the outage are being logged");
      }
      if (ok) {
        write();
      } else {
        vertx.setTimer(RETRY_MS, t -> write());
      }
    });
  }

  private static boolean execApplied(List<Response> replies) {
    // The last reply is EXEC's: an array of the XADD ids, or null when the transaction was discarded.
    return replies != null && !replies.isEmpty() && replies.get(replies.size() - 1) != null;
  }

  /** Entries after {@code afterId} (exclusive), at most {@code count}. */
  public Future<List<Entry>> after(String afterId, int count) {
    return redis.send(Request.cmd(Command.XRANGE).arg(key).arg("(" + afterId).arg("+").arg("COUNT").arg(count))
        .map(EventLog::entries);
  }

  /** The oldest retained id, or null when the log is empty. */
  public Future<String> oldest() {
    return redis.send(Request.cmd(Command.XRANGE).arg(key).arg("-").arg("+").arg("COUNT").arg(1))
        .map(r -> {
          List<Entry> e = entries(r);
          return e.isEmpty() ? null : e.get(0).id();
        });
  }

  /** The newest id, or "0-0" when the log is empty. */
  public Future<String> newest() {
    return redis.send(Request.cmd(Command.XREVRANGE).arg(key).arg("+").arg("-").arg("COUNT").arg(1))
        .map(r -> {
          List<Entry> e = entries(r);
          return e.isEmpty() ? "0-0" : e.get(0).id();
        });
  }

  static List<Entry> entries(Response r) {
    List<Entry> out = new ArrayList<>();
    if (r == null) {
      return out;
    }
    for (Response item : r) {
      String id = item.get(0).toString();
      Response fields = item.get(1);
      for (int i = 0; i + 1 < fields.size(); i += 2) {
        String field = fields.get(i).toString();
        if (EVENT_FIELD.equals(field) || CONTROL_FIELD.equals(field)) {
          out.add(Entry.of(id, field, fields.get(i + 1).toString()));
        }
      }
    }
    return out;
  }

  /** Compares two stream ids ("ms-seq"). */
  public static int compare(String a, String b) {
    String[] x = a.split("-", 2);
    String[] y = b.split("-", 2);
    int c = Long.compare(Long.parseLong(x[0]), Long.parseLong(y[0]));
    return c != 0 ? c : Long.compare(Long.parseLong(x.length > 1 ? x[1] : "0"), Long.parseLong(y.length > 1 ? y[1] : "0"));
  }

  public static boolean validId(String id) {
    return id != null && id.matches("\\d{1,19}-\\d{1,19}");
  }
}
