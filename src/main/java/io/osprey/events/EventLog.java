package io.osprey.events;

import io.osprey.bus.Bus.LoggedEvent;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;

/**
 * The bounded, durable log of annotation live events: a Redis stream shared by every instance (key
 * {@code <prefix>annotation-events}, trimmed to about events.retention_count entries). The entry id is the SSE
 * event id, so a client's Last-Event-ID is a position in it. This class reads it (replay, the hub's cursor);
 * {@link EventLogWriter} appends to it.
 */
public final class EventLog {
  /** The field of an annotation event in a log entry. */
  static final String EVENT_FIELD = "e";
  /** The field of a control entry (a reset written after events were dropped). */
  static final String CONTROL_FIELD = "c";

  /**
   * One logged event, with its SSE frame made once, as bytes: the hub hands the same entry to every subscriber, and
   * encoding per subscriber would repeat the work (JSON, then UTF-8) thousands of times per event. The frame is a default-type SSE frame
   * ({@code id:} and {@code data:}, no {@code event:} line, so EventSource.onmessage gets it) whose JSON has
   * {@code "type"}: {@code "annotation"} before the AnnotationEventDto fields, or {@code "reset"} for a control
   * entry, which every subscriber gets whatever its filter.
   */
  static LoggedEvent entry(String id, String field, String json) {
    JsonObject body = new JsonObject(json);
    boolean control = CONTROL_FIELD.equals(field);
    JsonObject data = control ? body : new JsonObject().put("type", "annotation").mergeIn(body);
    int dash = id.indexOf('-');
    return new LoggedEvent(id, Long.parseLong(id.substring(0, dash)), Long.parseLong(id.substring(dash + 1)), body,
        Buffer.buffer(EventStreams.frame(id, data), "UTF-8"), control);
  }

  private final Redis redis;
  private final String key;

  public EventLog(Redis redis, String prefix) {
    this.redis = redis;
    this.key = key(prefix);
  }

  static String key(String prefix) {
    return prefix + "annotation-events";
  }

  public String key() {
    return key;
  }

  /** Entries after {@code afterId} (exclusive), at most {@code count}. */
  public Future<List<LoggedEvent>> after(String afterId, int count) {
    return redis.send(Request.cmd(Command.XRANGE).arg(key).arg("(" + afterId).arg("+").arg("COUNT").arg(count))
        .map(EventLog::entries);
  }

  /** The oldest retained id, or null when the log is empty. */
  public Future<String> oldest() {
    return redis.send(Request.cmd(Command.XRANGE).arg(key).arg("-").arg("+").arg("COUNT").arg(1))
        .map(r -> {
          List<LoggedEvent> e = entries(r);
          return e.isEmpty() ? null : e.get(0).id();
        });
  }

  /** The newest id, or "0-0" when the log is empty. */
  public Future<String> newest() {
    return redis.send(Request.cmd(Command.XREVRANGE).arg(key).arg("+").arg("-").arg("COUNT").arg(1))
        .map(r -> {
          List<LoggedEvent> e = entries(r);
          return e.isEmpty() ? "0-0" : e.get(0).id();
        });
  }

  static List<LoggedEvent> entries(Response r) {
    List<LoggedEvent> out = new ArrayList<>();
    if (r == null) {
      return out;
    }
    for (Response item : r) {
      String id = item.get(0).toString();
      Response fields = item.get(1);
      for (int i = 0; i + 1 < fields.size(); i += 2) {
        String field = fields.get(i).toString();
        if (EVENT_FIELD.equals(field) || CONTROL_FIELD.equals(field)) {
          out.add(entry(id, field, fields.get(i + 1).toString()));
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
