package io.osprey.events;

import io.osprey.auth.AuthHandler;
import io.osprey.auth.Permission;
import io.osprey.auth.TokenVerifier;
import io.osprey.bus.Bus;
import io.osprey.bus.Bus.JobStatusChanged;
import io.osprey.bus.Bus.LoggedEvent;
import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayDeque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Server-Sent Event streams (F3 and the job progress of the inference spec). Every frame is a default-type frame
 * (no {@code event:} line: a browser dispatches it to {@code EventSource.onmessage}, and the spec's frame is
 * {@code data: {json}}); its JSON says what it is in {@code "type"}:
 * <ul>
 *   <li>{@code GET /annotations/events}: {@code id:} (a position in the shared event log) and
 *   {@code data: {"type":"annotation", ...AnnotationEventDto}} ({@code operation} says what happened);
 *   reconnecting with {@code Last-Event-ID} replays exactly what was missed, in order, while it is retained, else
 *   sends {@code {"type":"reset"}} (reload, then follow); filters as query parameters. While Redis is away a resume
 *   waits for it (retried every second) rather than skip what it cannot read;</li>
 *   <li>{@code GET /api/v1/jobs/{job_id}/events}: {@code {"type":"status", ...job status}} with the job's current
 *   status at once, then every change; the stream ends after the terminal status.</li>
 * </ul>
 * Both send a {@code retry:} hint and heartbeat comments, accept the token as {@code access_token} (EventSource
 * cannot send headers), cut a subscriber whose unsent data passes events.max_buffer_bytes (with
 * {@code {"type":"disconnect"}}), and end with {@code {"type":"auth"}} when the token expires. Control frames
 * ({@code reset}, {@code disconnect}, {@code auth}) carry {@code reason} and {@code message}.
 */
public final class EventStreams {
  private static final int REPLAY_PAGE = 500;
  private static final int MAX_PENDING_WHILE_REPLAYING = 50_000;
  private static final long RESUME_RETRY_MS = 1000;
  private static final String RELOAD = "Reload the annotations, then follow this stream";
  /** Written to every stream, so one buffer for all (Vert.x writes a buffer's bytes without consuming them). */
  private static final Buffer HEARTBEAT = Buffer.buffer(": heartbeat\n\n");

  private final Vertx vertx;
  private final EventLog log;
  private final TokenVerifier verifier;
  private final JobStatusReader jobs;
  private final AnnotationStatuses statuses;
  private final long heartbeatMs;
  private final int maxBuffer;
  private final int retryMs;
  private final AtomicInteger open = new AtomicInteger();

  public EventStreams(Vertx vertx, EventLog log, TokenVerifier verifier, JobStatusReader jobs,
                      AnnotationStatuses statuses, int heartbeatSeconds, int maxBuffer, int retryMs) {
    this.vertx = vertx;
    this.log = log;
    this.verifier = verifier;
    this.jobs = jobs;
    this.statuses = statuses;
    this.heartbeatMs = heartbeatSeconds * 1000L;
    this.maxBuffer = maxBuffer;
    this.retryMs = retryMs;
  }

  /**
   * Mount before the routes of {@code /annotations/:id} and after the {@code /api/v1} guard. Called once per HTTP
   * instance, with its router: the instance's annotation streams share one {@link Fanout}.
   */
  public void mount(Router router) {
    Fanout fanout = new Fanout();
    new AuthHandler(verifier, Permission.ANN, true).guard(router.get("/annotations/events"))
        .handler(ctx -> annotations(ctx, fanout));
    router.get("/api/v1/jobs/:job_id/events").handler(this::job);
  }

  /** Event streams (annotation and job) open on this instance now. */
  public int openStreams() {
    return open.get();
  }

  // ------------------------------------------------------------------ common

  /**
   * One open event stream. Created, fed and ended on its request's context only (see the class comment): its bus
   * consumers, timers and Redis/database callbacks all run there.
   */
  private abstract class Stream {
    final RoutingContext ctx;
    final HttpServerResponse res;
    /** What ends this stream's subscriptions (bus consumers, its place in a fan-out), run once by cleanup. */
    final List<Runnable> unsubscribe = new java.util.ArrayList<>(2);
    private long heartbeat = -1;
    private long expiry = -1;
    boolean closed;

    Stream(RoutingContext ctx) {
      this.ctx = ctx;
      this.res = ctx.response();
    }

    void open() {
      open.incrementAndGet();
      res.setChunked(true)
          .putHeader("Content-Type", "text/event-stream; charset=utf-8")
          .putHeader("Cache-Control", "no-cache, no-transform")
          .putHeader("X-Accel-Buffering", "no")
          // No gzip on a stream: a compressor may hold small events back; "identity" makes Vert.x skip it.
          .putHeader("Content-Encoding", "identity")
          .setWriteQueueMaxSize(maxBuffer);
      res.write("retry: " + retryMs + "\n\n");
      heartbeat = vertx.setPeriodic(heartbeatMs, t -> send(HEARTBEAT));
      TokenVerifier.Caller caller = AuthHandler.caller(ctx);
      if (caller != null) {
        Long exp = caller.user().principal().getLong("exp",
            caller.user().attributes().getJsonObject("accessToken", new JsonObject()).getLong("exp"));
        if (exp != null) {
          long delay = Math.max(1, exp * 1000 - System.currentTimeMillis());
          expiry = vertx.setTimer(delay, t -> end(control("auth", "token expired",
              "Reconnect with a fresh token")));
        }
      }
      ctx.request().connection().closeHandler(v -> cleanup());
      res.closeHandler(v -> cleanup());
      if (res.closed()) {
        cleanup(); // the client left before the stream opened (e.g. during the job lookup): no close event follows
      }
    }

    /** Consumes {@code address} on this request's context (the caller's) until the stream ends. */
    <T> void consume(String address, io.vertx.core.Handler<T> handler) {
      if (closed) {
        return;
      }
      MessageConsumer<T> consumer = vertx.eventBus().localConsumer(address, m -> handler.handle(m.body()));
      unsubscribe.add(consumer::unregister);
    }

    void send(String text) {
      send(Buffer.buffer(text, "UTF-8"));
    }

    /** Writes unless the client is too slow, which ends its stream instead. */
    void send(Buffer data) {
      if (closed) {
        return;
      }
      if (res.writeQueueFull()) {
        cleanup(); // first: nothing more is sent, whatever the writes below do
        res.write(frame(null, control("disconnect", "slow consumer", "More than " + maxBuffer
            + " bytes were waiting for this client; reconnect with Last-Event-ID to resume")));
        ctx.request().connection().close();
        return;
      }
      res.write(data);
    }

    void end(JsonObject data) {
      if (closed) {
        return;
      }
      cleanup();
      res.end(frame(null, data));
    }

    void cleanup() {
      if (closed) {
        return;
      }
      closed = true;
      open.decrementAndGet();
      vertx.cancelTimer(heartbeat);
      vertx.cancelTimer(expiry);
      unsubscribe.forEach(Runnable::run);
      unsubscribe.clear();
    }
  }

  /** A default-type frame: {@code id:} when given, then the JSON on one {@code data:} line. */
  static String frame(String id, JsonObject data) {
    String json = data.encode();
    StringBuilder sb = new StringBuilder(json.length() + 64);
    if (id != null) {
      sb.append("id: ").append(id).append('\n');
    }
    return sb.append("data: ").append(json).append("\n\n").toString();
  }

  /** The data of a control frame: {@code reset}, {@code disconnect} or {@code auth}. */
  static JsonObject control(String type, String reason, String message) {
    return new JsonObject().put("type", type).put("reason", reason).put("message", message);
  }

  // ------------------------------------------------------------------ annotations

  /** Query filters; a null field matches everything. */
  record Filter(String flightId, String waypointId, String mediaId, Integer classNum, Set<String> statuses) {
    boolean matches(JsonObject e) {
      if (flightId != null && !flightId.equals(e.getString("flightId"))) {
        return false;
      }
      if (waypointId != null && !waypointId.equals(e.getString("waypointId"))) {
        return false;
      }
      if (mediaId != null && !mediaId.equals(e.getString("mediaId"))) {
        return false;
      }
      if (statuses != null && !statuses.contains(e.getString("status"))) {
        return false;
      }
      if (classNum != null) {
        JsonArray d = e.getJsonArray("detections");
        return d != null && d.stream().anyMatch(o -> o instanceof JsonObject j
            && classNum.equals(j.getInteger("classNum")));
      }
      return true;
    }
  }

  /**
   * The annotation streams of one HTTP instance. One bus consumer hands each live entry to each stream in turn: a
   * consumer per stream cost a bus message, a task on the event loop and its metrics per subscriber and event (a few
   * percent of the fan-out's CPU at 2,000 subscribers; the socket writes are the rest). Every stream of the instance lives on the instance's event
   * loop (its router's handlers, the streams' timers and Redis replies, and this consumer, registered from a stream's
   * request, all run there), so plain collections serve without locks. The consumer exists while a stream does.
   */
  private final class Fanout {
    private final Set<AnnotationStream> streams = new LinkedHashSet<>();
    /** The streams as an array, made again only after a stream came or went; a stream may leave while it is fed. */
    private AnnotationStream[] snapshot;
    private MessageConsumer<LoggedEvent> consumer;

    void add(AnnotationStream stream) {
      streams.add(stream);
      snapshot = null;
      if (consumer == null) {
        consumer = vertx.eventBus().localConsumer(Bus.EVENTS_ANNOTATIONS, m -> deliver(m.body()));
      }
    }

    void remove(AnnotationStream stream) {
      if (streams.remove(stream)) {
        snapshot = null;
      }
      if (streams.isEmpty() && consumer != null) {
        consumer.unregister();
        consumer = null;
      }
    }

    private void deliver(LoggedEvent entry) {
      AnnotationStream[] now = snapshot;
      if (now == null) {
        now = streams.toArray(new AnnotationStream[0]);
        snapshot = now;
      }
      for (AnnotationStream stream : now) {
        stream.offer(entry);
      }
    }
  }

  private final class AnnotationStream extends Stream {
    private final Filter filter;
    private final ArrayDeque<LoggedEvent> pending = new ArrayDeque<>();
    private boolean replaying = true;
    /** The last entry delivered (replayed or live), null before the first. */
    private LoggedEvent lastSeen;

    AnnotationStream(RoutingContext ctx, Filter filter) {
      super(ctx);
      this.filter = filter;
    }

    /** Takes live entries from {@code fanout} until the stream ends; held in pending while the replay runs. */
    void follow(Fanout fanout) {
      if (closed) {
        return;
      }
      fanout.add(this);
      unsubscribe.add(() -> fanout.remove(this));
    }

    /** A live event from the hub; held while the replay of what was missed is still running. */
    void offer(LoggedEvent entry) {
      if (closed) {
        return;
      }
      if (replaying) {
        if (pending.size() >= MAX_PENDING_WHILE_REPLAYING) {
          end(control("disconnect", "slow consumer", "Too many events waited while this stream was resuming;"
              + " reconnect with Last-Event-ID to resume"));
          return;
        }
        pending.add(entry);
        return;
      }
      deliver(entry);
    }

    void deliver(LoggedEvent entry) {
      if (lastSeen != null && entry.compareTo(lastSeen.ms(), lastSeen.seq()) <= 0) {
        return; // seen during the replay already
      }
      lastSeen = entry;
      if (entry.control() || filter.matches(entry.event())) {
        send(entry.frame());
      }
    }

    void live() {
      replaying = false;
      while (!pending.isEmpty() && !closed) {
        deliver(pending.poll());
      }
      pending.clear();
    }
  }

  private void annotations(RoutingContext ctx, Fanout fanout) {
    var p = ctx.queryParams();
    Integer classNum = null;
    String cls = p.get("classNum");
    if (cls != null) {
      try {
        classNum = Integer.parseInt(cls);
      } catch (NumberFormatException e) {
        Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "classNum: must be a whole number"));
        return;
      }
    }
    Set<String> wanted = null;
    if (p.get("status") != null) {
      wanted = new java.util.HashSet<>();
      for (String s : p.get("status").split(",")) {
        String wire = statuses.wireName(s);
        if (wire == null) {
          Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "status: '" + s + "' is not one of "
              + statuses.names()));
          return;
        }
        wanted.add(wire);
      }
    }
    String last = ctx.request().getHeader("Last-Event-ID");
    if (last == null) {
      last = p.get("lastEventId");
    }
    AnnotationStream stream = new AnnotationStream(ctx, new Filter(p.get("flightId"), p.get("waypointId"),
        p.get("mediaId"), classNum, wanted));
    stream.open();
    // Before the replay starts: what goes live meanwhile waits in pending, and nothing falls in between.
    stream.follow(fanout);
    String from = last == null ? null : last.strip();
    if (from == null) {
      stream.live();
      return;
    }
    if (!EventLog.validId(from)) {
      stream.send(frame(null, control("reset", "unknown Last-Event-ID", RELOAD)));
      stream.live();
      return;
    }
    resume(stream, from);
  }

  /**
   * Replays what followed {@code from}, then goes live. When the log cannot be read (Redis away) it tries again
   * every second, from the last event delivered, with live events held meanwhile: going live at once would skip what
   * was missed without a word. Runs on the stream's context (called from it; Redis replies and timers return there).
   */
  private void resume(AnnotationStream stream, String from) {
    log.oldest().compose(oldest -> {
      if (oldest != null && EventLog.compare(from, oldest) < 0) {
        stream.send(frame(null, control("reset", "events since " + from + " are no longer retained", RELOAD)));
        return Future.succeededFuture();
      }
      return replay(stream, from);
    }).onSuccess(x -> stream.live()).onFailure(e -> {
      if (!stream.closed) {
        vertx.setTimer(RESUME_RETRY_MS, t -> {
          if (!stream.closed) {
            resume(stream, stream.lastSeen == null ? from : stream.lastSeen.id());
          }
        });
      }
    });
  }

  private Future<Void> replay(AnnotationStream stream, String after) {
    return log.after(after, REPLAY_PAGE).compose(entries -> {
      for (LoggedEvent e : entries) {
        stream.deliver(e);
      }
      if (entries.size() < REPLAY_PAGE || stream.closed) {
        return Future.succeededFuture();
      }
      return replay(stream, entries.get(entries.size() - 1).id());
    });
  }

  // ------------------------------------------------------------------ jobs

  private final class JobStream extends Stream {
    private final String jobId;

    JobStream(RoutingContext ctx, String jobId) {
      super(ctx);
      this.jobId = jobId;
    }

    void status(JsonObject status) {
      String state = status.getString("status", "status");
      JsonObject data = new JsonObject().put("type", "status").mergeIn(status);
      if (List.of("completed", "failed", "cancelled").contains(state)) {
        end(data);
      } else {
        send(frame(null, data));
      }
    }

    void changed(JobStatusChanged change) {
      if (jobId.equals(change.jobId())) {
        status(change.status());
      }
    }

    /** Re-reads the status, after job events were missed (Redis was away); a terminal one ends the stream. */
    void reread() {
      if (!closed) {
        jobs.read(jobId).onSuccess(now -> {
          if (now != null && !closed) {
            status(now.status());
          }
        });
      }
    }
  }

  private void job(RoutingContext ctx) {
    String jobId = ctx.pathParam("job_id");
    try {
      UUID.fromString(jobId);
    } catch (IllegalArgumentException e) {
      Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_FOUND, "Job not found: " + jobId));
      return;
    }
    jobs.read(jobId).onFailure(e -> Responses.error(ctx,
            io.osprey.http.DatabaseErrors.map(e, ApiError.of(ErrorCode.DATABASE_ERROR))))
        .onSuccess(job -> {
          if (job == null || !CurrentUser.mayAccess(ctx, job.userId())) {
            Responses.error(ctx, ApiError.of(ErrorCode.JOB_NOT_FOUND, "Job not found: " + jobId)
                .withDetails(new JsonObject().put("job_id", jobId)));
            return;
          }
          JobStream stream = new JobStream(ctx, jobId);
          stream.open();
          stream.<JobStatusChanged>consume(Bus.EVENTS_JOB_STATUS, stream::changed);
          stream.<Object>consume(Bus.EVENTS_JOB_RESYNC, x -> stream.reread());
          // The snapshot after subscribing: a change in between arrives as an event (maybe twice, never lost).
          stream.reread();
        });
  }
}
