package io.osprey.events;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bounded, durable log of annotation live events: a Redis stream shared by every instance (key
 * {@code <prefix>annotation-events}, trimmed to about events.retention_count entries). The entry id is the SSE
 * event id, so a client's Last-Event-ID is a position in it.
 */
public final class EventLog {
  private static final Logger LOG = LoggerFactory.getLogger(EventLog.class);

  /**
   * One logged event, with its SSE frame made once: the hub hands the same entry to every subscriber, and encoding
   * per subscriber would repeat the work thousands of times per event.
   */
  public record Entry(String id, JsonObject event, String frame) {
    Entry(String id, String json) {
      this(id, new JsonObject(json), "id: " + id + "\nevent: annotation\ndata: " + json + "\n\n");
    }
  }

  private final Redis redis;
  private final String key;
  private final int retention;

  public EventLog(Redis redis, String prefix, int retention) {
    this.redis = redis;
    this.key = prefix + "annotation-events";
    this.retention = retention;
  }

  public String key() {
    return key;
  }

  /**
   * Appends in order, as one pipelined batch on one connection (a bulk change of thousands of annotations is one
   * round trip, and keeps its order). Failures are logged, not raised.
   */
  public Future<Void> append(List<JsonObject> events) {
    List<Request> batch = new ArrayList<>(events.size());
    for (JsonObject e : events) {
      batch.add(Request.cmd(Command.XADD).arg(key).arg("MAXLEN").arg("~").arg(retention).arg("*").arg("e")
          .arg(e.encode()));
    }
    return redis.batch(batch).<Void>mapEmpty().recover(err -> {
      LOG.warn("live events not logged to Redis ({}): subscribers miss them; the stream still has them",
          err.toString());
      return Future.succeededFuture();
    });
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
        if ("e".equals(fields.get(i).toString())) {
          out.add(new Entry(id, fields.get(i + 1).toString()));
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
