package io.osprey.outbox;

import com.rabbitmq.stream.Message;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.osprey.annotations.AnnotationStatus;
import io.osprey.annotations.CrashPoints;
import io.osprey.annotations.Directories;
import io.osprey.annotations.PathResolver;
import io.osprey.outbox.OutboxRepository.AnnotationInfo;
import io.osprey.outbox.OutboxRepository.OutboxRow;
import io.osprey.outbox.StreamPublisher.Outcome;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgConnection;
import io.vertx.sqlclient.Tuple;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drains annotation_outbox to the RabbitMQ stream (F4, RB-05), exactly once:
 * <ul>
 *   <li>one drainer publishes at a time: the holder of a PostgreSQL advisory lock on a connection of its own (the
 *   lock goes with the connection, so a dead drainer's lock is freed at once); the others wait and take over;</li>
 *   <li>the leader gives rows their publishing ids when it leases them, in publish order, from a counter per
 *   producer name; a row keeps its id until it is confirmed and deleted, so a re-publish after a crash between
 *   confirm and delete, or after a confirm lost with its connection, is dropped by the broker's deduplication;
 *   only rows that certainly never reached the broker get new, higher ids;</li>
 *   <li>after a failure nothing more is sent on that connection: the next run opens a new one and first re-sends
 *   the rows that kept their ids, in id order;</li>
 *   <li>a batch costs three statements (read rows with their annotations, assign ids, delete), and two batches are
 *   in flight: the next one is read, built and sent while the broker confirms the previous one;</li>
 *   <li>new rows wake the leader through LISTEN/NOTIFY; a poll is the safety net; while the broker is away it backs
 *   off (doubling up to outbox.max_backoff_ms) and resumes by itself.</li>
 * </ul>
 */
public final class OutboxVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(OutboxVerticle.class);
  public static final String CHANNEL = "osprey_outbox";
  /**
   * Bodies built per batch, at most (one larger message still goes alone): images may be 50 MB each, a batch holds
   * every body in memory until the broker confirms, and two batches are in flight: 64 MiB in all.
   */
  private static final long ROUND_BYTES = 32L << 20;
  /** Batches per run before the run hands back to the event loop and starts another (see {@link #run()}). */
  private static final int BATCHES_PER_RUN = 64;

  private final OutboxSettings settings;
  private final OutboxRepository repo;
  private final PathResolver paths;
  private final int batch;
  private final long pollMs;
  private final long maxBackoffMs;
  private final int graceSeconds;
  private final StreamFrames frames;
  private final String producerName;
  private final String stream;

  private final Counter published;
  private final Counter failures;
  private final Counter imageMissing;
  private final Timer confirmLatency;
  private final AtomicLong pendingRows = new AtomicLong();
  private final AtomicLong oldestAgeSeconds = new AtomicLong();
  private final AtomicLong leaderGauge = new AtomicLong();

  private WorkerExecutor executor;
  private long timer = -1;
  private PgConnection leaderConnection;
  private boolean connecting;
  private boolean draining;
  private boolean again;
  private boolean stopping;
  private long backoffMs;
  private long nextAttemptAt;
  private volatile String lastError;
  private StreamPublisher publisher;
  private Future<StreamPublisher> connectingPublisher;
  private long brokerLast = -1;
  /** Whether rows may still carry publishing ids from a crash or a failed run (publish those first). */
  private boolean recovering = true;

  public OutboxVerticle(OutboxSettings settings, OutboxRepository repo, PathResolver paths, MeterRegistry registry) {
    this.settings = settings;
    this.repo = repo;
    this.paths = paths;
    this.batch = settings.batchSize();
    this.pollMs = settings.pollIntervalMs();
    this.maxBackoffMs = settings.maxBackoffMs();
    this.graceSeconds = settings.missingImageGraceSeconds();
    this.frames = new StreamFrames(settings);
    this.producerName = settings.stream().producerName();
    this.stream = settings.streamName();
    this.published = Counter.builder("outbox_published_total").description("Outbox rows published and confirmed")
        .register(registry);
    this.failures = Counter.builder("outbox_publish_failures_total")
        .description("Outbox rows whose publish failed (retried)").register(registry);
    this.imageMissing = Counter.builder("outbox_image_missing_total")
        .description("Created messages published without their image after the grace period (RB-05)")
        .register(registry);
    this.confirmLatency = Timer.builder("outbox_confirm_latency").description("Send to broker confirm")
        .publishPercentiles(0.5, 0.99).register(registry);
    registry.gauge("outbox_pending_rows", pendingRows);
    registry.gauge("outbox_oldest_row_age_seconds", oldestAgeSeconds);
    registry.gauge("outbox_leader", leaderGauge);
  }

  @Override
  public Future<?> start() {
    executor = vertx.createSharedWorkerExecutor("osprey-outbox-" + deploymentID(), 1);
    // Learn the agreed frame size at start (logged once, shown in readiness), on the drainer's own thread; the
    // start does not wait for it: with the broker away, the publisher's first connection tells it later.
    executor.executeBlocking(() -> {
      StreamPublisher.probe(settings, frames);
      return null;
    }).onFailure(e -> LOG.info("stream frames: not agreed yet, the broker did not answer ({}); the first publishing"
        + " connection will tell", e.toString()));
    timer = vertx.setPeriodic(0, pollMs, t -> tick());
    return Future.succeededFuture();
  }

  /** The frame size agreed with the broker and which images travel inline. */
  public StreamFrames frames() {
    return frames;
  }

  @Override
  public Future<?> stop() {
    stopping = true;
    vertx.cancelTimer(timer);
    StreamPublisher p = publisher;
    publisher = null;
    Future<Void> closed = p == null ? Future.succeededFuture()
        : executor.executeBlocking(() -> {
          p.close();
          return null;
        });
    return closed.eventually(() -> leaderConnection == null ? Future.succeededFuture() : leaderConnection.close())
        .eventually(() -> executor.close());
  }

  /** Whether this instance publishes now. */
  public boolean leader() {
    return leaderConnection != null;
  }

  /** Null while publishing works (or another instance leads); else why the last attempt failed. */
  public String lastError() {
    return lastError;
  }

  private void tick() {
    if (stopping) {
      return;
    }
    repo.backlog().onSuccess(b -> {
      pendingRows.set(b.pending());
      oldestAgeSeconds.set(Math.round(b.oldestSeconds()));
    });
    if (leaderConnection == null) {
      tryLead();
    } else {
      drain();
    }
  }

  private void tryLead() {
    if (connecting) {
      return;
    }
    connecting = true;
    PgConnection.connect(vertx, new io.vertx.pgclient.PgConnectOptions(settings.database())).compose(conn -> conn
        .preparedQuery("SELECT pg_try_advisory_lock(hashtext('osprey-outbox'), hashtext($1))")
        .execute(Tuple.of(stream))
        .compose(rows -> {
          if (!rows.iterator().next().getBoolean(0)) {
            return conn.close().map(false);
          }
          conn.notificationHandler(n -> {
            if (CHANNEL.equals(n.getChannel())) {
              drain();
            }
          });
          conn.closeHandler(v -> lostLeadership());
          return conn.query("LISTEN " + CHANNEL).execute().map(x -> {
            leaderConnection = conn;
            leaderGauge.set(1);
            LOG.info("outbox drainer: this instance now publishes to stream {} as producer {}", stream, producerName);
            return true;
          });
        }))
        .onComplete(r -> {
          connecting = false;
          if (r.succeeded() && r.result()) {
            // The leader declares the stream (with its retention) at once, not at the first change.
            ensurePublisher().onComplete(p -> drain());
          }
        });
  }

  private void lostLeadership() {
    if (leaderConnection == null) {
      return;
    }
    leaderConnection = null;
    leaderGauge.set(0);
    recovering = true;
    if (!stopping) {
      LOG.warn("outbox drainer: lost the database connection holding the leader lock; will try to lead again");
      closePublisher();
    }
  }

  private void closePublisher() {
    StreamPublisher p = publisher;
    publisher = null;
    brokerLast = -1;
    if (p != null) {
      // Not on the drainer's own thread: a close over a connection that no longer answers waits for the client's
      // RPC timeouts (10 s each for the producer and the locator), and the drainer has new work meanwhile.
      vertx.executeBlocking(() -> {
        p.close();
        return null;
      }, false);
    }
  }

  /** One run at a time; a wake-up during a run runs another after it. */
  private void drain() {
    if (leaderConnection == null || stopping) {
      return;
    }
    if (draining) {
      again = true;
      return;
    }
    if (System.currentTimeMillis() < nextAttemptAt) {
      return; // backing off; the poll timer comes back
    }
    draining = true;
    again = false;
    run().onComplete(r -> {
      draining = false;
      if (r.failed()) {
        // Rows a failed run left with publishing ids are published first, under those ids, next time.
        recovering = true;
        backoffMs = backoffMs == 0 ? Math.min(500, maxBackoffMs) : Math.min(backoffMs * 2, maxBackoffMs);
        nextAttemptAt = System.currentTimeMillis() + backoffMs;
        lastError = r.cause().getMessage();
        LOG.warn("outbox drainer: publishing failed ({}); retrying in {} ms", r.cause().toString(), backoffMs);
        closePublisher();
        vertx.setTimer(backoffMs, t -> drain());
        return;
      }
      if (lastError != null) {
        LOG.info("outbox drainer: publishing again");
      }
      backoffMs = 0;
      lastError = null;
      if (r.result() || again) {
        vertx.runOnContext(v -> drain());
      }
    });
  }

  /**
   * Publishes what is ready: first any rows that still carry publishing ids (a crash or a failed run left them),
   * then new batches, two in flight. Answers whether it stopped with rows maybe left (after
   * {@link #BATCHES_PER_RUN} batches, so that the chain of futures stays short).
   */
  private Future<Boolean> run() {
    return ensurePublisher().compose(p -> (recovering ? recover(p) : Future.<Void>succeededFuture())
        .compose(v -> pipeline(p, null, BATCHES_PER_RUN)));
  }

  /** Re-publishes leased rows in publishing-id order, one batch at a time, until there are none. */
  private Future<Void> recover(StreamPublisher p) {
    return repo.leased(batch).compose(leased -> {
      if (leased.isEmpty()) {
        recovering = false;
        return Future.succeededFuture();
      }
      // A previous leader (or this one) died or failed between assigning and deleting: same ids again.
      Map<Long, Long> ids = new HashMap<>();
      leased.forEach(r -> ids.put(r.id(), r.publishingId()));
      return materialize(leased, false).compose(ready -> send(p, ready, ids))
          .compose(sent -> settle(sent, false)).compose(n -> recover(p));
    });
  }

  /** A batch that was claimed: how many rows, and what was sent of them (null when none was). */
  private record Claimed(int rows, Sent sent) {
  }

  /** Messages handed to the client, and their outcomes to come (one flag per row of {@code ready}). */
  private record Sent(List<Ready> ready, Future<Outcome[]> outcomes) {
  }

  /**
   * Claims and sends the next batch while the previous one ({@code inFlight}) waits for its confirms, then
   * settles the previous one (deletes what the broker confirmed), and goes on with the one just sent. At most
   * two batches are in flight; publishing ids grow along the sends, so whatever a crash leaves is a tail of
   * publishing ids that the next leader re-sends in order, and the broker drops the part it already has.
   */
  private Future<Boolean> pipeline(StreamPublisher p, Sent inFlight, int batchesLeft) {
    if (batchesLeft == 0) {
      return settle(inFlight, false).map(true);
    }
    return claim(p).transform(claimed -> {
      if (claimed.failed()) {
        return settleQuietly(inFlight).compose(x -> Future.failedFuture(claimed.cause()));
      }
      Claimed next = claimed.result();
      return settle(inFlight, next.sent() != null).transform(previous -> {
        if (previous.failed()) {
          return settleQuietly(next.sent()).compose(x -> Future.failedFuture(previous.cause()));
        }
        if (next.rows() == 0) {
          return Future.succeededFuture(false);
        }
        return pipeline(p, next.sent(), batchesLeft - 1);
      });
    });
  }

  /** Reads the next rows, builds their bodies, gives them publishing ids, and sends them. */
  private Future<Claimed> claim(StreamPublisher p) {
    return repo.next(batch).compose(rows -> rows.isEmpty() ? Future.succeededFuture(new Claimed(0, null))
        : materialize(rows, true).compose(ready -> ready.isEmpty() ? Future.succeededFuture((Sent) null)
            : repo.assign(producerName, ready.stream().map(m -> m.row().id()).toList(), brokerLast)
                .compose(ids -> send(p, ready, ids)))
            .map(sent -> new Claimed(rows.size(), sent)));
  }

  private Future<StreamPublisher> ensurePublisher() {
    if (publisher != null && !publisher.usable()) {
      // It lost its connection while idle: a new publisher, and a look for rows that kept their ids.
      closePublisher();
      recovering = true;
    }
    if (publisher != null) {
      return Future.succeededFuture(publisher);
    }
    if (connectingPublisher != null) {
      // The start and a first wake-up may both ask: one connection, one producer of this name.
      return connectingPublisher;
    }
    connectingPublisher = executor.executeBlocking(() -> new StreamPublisher(settings, frames)).map(p -> {
      publisher = p;
      brokerLast = p.lastPublishingId();
      LOG.info("outbox drainer: connected to stream {}; the broker's last publishing id for {} is {}", stream,
          producerName, brokerLast);
      return p;
    }).onComplete(x -> connectingPublisher = null);
    return connectingPublisher;
  }

  /** A row turned into its message body, ready for a publishing id. */
  private record Ready(OutboxRow row, byte[] body, String operation, String annotationId, int annotations) {
  }

  /**
   * Builds the message bodies (reading images off the event loop). A Created row whose image is not there yet is
   * held, and every later row of this batch about the same annotations is left for a later read (which skips rows
   * behind a held one); with {@code mayHold} false (rows that already carry publishing ids) nothing is held: the
   * image is sent if present, else flagged.
   */
  private Future<List<Ready>> materialize(List<OutboxRow> rows, boolean mayHold) {
    return paths.get().compose(dirs -> executor.executeBlocking(() -> {
      List<Ready> ready = new ArrayList<>();
      List<OutboxRepository.Hold> holds = new ArrayList<>();
      Set<String> blocked = new HashSet<>();
      long bytes = 0;
      for (OutboxRow row : rows) {
        if (bytes >= ROUND_BYTES) {
          // The rest waits for the next batch, which follows at once; stopping here keeps the order.
          break;
        }
        if (mayHold && row.annotationIds().stream().anyMatch(blocked::contains)) {
          // Not sent, and not held either: while the earlier row is held, reading the outbox skips this one.
          blocked.addAll(row.annotationIds());
          continue;
        }
        Built built = build(row, dirs, mayHold);
        if (built.holdSeconds > 0) {
          holds.add(new OutboxRepository.Hold(row.id(), built.holdSeconds, built.holdReason,
              built.holdReason.equals(IMAGE_PENDING)));
          blocked.addAll(row.annotationIds());
          continue;
        }
        ready.add(new Ready(row, built.body, row.operation(), row.annotationIds().size() == 1
            ? row.annotationIds().get(0) : null, row.annotationIds().size()));
        bytes += built.body.length;
      }
      return new Object[] {ready, holds};
    })).compose(result -> {
      @SuppressWarnings("unchecked")
      List<Ready> ready = (List<Ready>) result[0];
      @SuppressWarnings("unchecked")
      List<OutboxRepository.Hold> holds = (List<OutboxRepository.Hold>) result[1];
      if (!holds.isEmpty()) {
        // The files' completion wakes the drainer; this timer is for the holds that nothing else ends.
        double shortest = holds.stream().mapToDouble(OutboxRepository.Hold::seconds).min().orElse(1);
        vertx.setTimer(Math.max(10, Math.round(shortest * 1000) + 10), t -> drain());
      }
      return repo.hold(holds).map(ready);
    });
  }

  /** The hold reason that the annotation's file completion clears (AnnotationRepository#filesState). */
  private static final String IMAGE_PENDING = "image not written yet";

  private record Built(byte[] body, double holdSeconds, String holdReason) {
  }

  private Built build(OutboxRow row, Directories dirs, boolean mayHold)
      throws java.io.IOException {
    JsonObject payload = row.payload();
    JsonObject fields = new JsonObject().put("schemaVersion", StreamContract.SCHEMA_VERSION)
        .put("kind", row.annotationIds().size() == 1 && payload.containsKey("annotationId") ? "annotation" : "bulk")
        .put("outboxId", row.id());
    payload.forEach(e -> fields.put(e.getKey(), e.getValue()));
    AnnotationStatus status = AnnotationStatus.parse(payload.getValue("status"));
    if (status != null) {
      fields.put("statusCode", status.code());
    }
    if (fields.getString("kind").equals("annotation")) {
      String id = row.annotationIds().get(0);
      AnnotationInfo a = row.annotation();
      if (a != null) {
        fields.put("name", a.name()).put("source", a.source()).put("createdBy", a.createdBy());
      }
      if (row.operation().equals(AnnotationStatus.Operation.CREATED)) {
        long ageSeconds = Duration.between(row.createdAt(), OffsetDateTime.now()).toSeconds();
        boolean graceOver = ageSeconds >= graceSeconds;
        Path file = a == null ? null : dirs.image(id, a.imageFormat());
        if (a != null && fields.getString("imageFormat") == null) {
          fields.put("imageFormat", a.imageFormat());
        }
        if (file != null && Files.isRegularFile(file)) {
          long size = Files.size(file);
          int maxBody = frames.maxMessageBytes();
          if (size < maxBody) {
            // The exact test is on the encoded body (gzip and the other fields add a little).
            byte[] withImage = StreamContract.encode(fields, Files.readAllBytes(file));
            if (withImage.length <= maxBody) {
              return new Built(withImage, 0, null);
            }
          }
          fields.put("imageOmitted", "too_large").put("imageSize", size);
          LOG.info("outbox: publishing Created {} without its image: {} bytes do not fit in a message of {} bytes"
              + " (see the stream frames line logged at start)", id, size, maxBody);
        } else if (mayHold && !graceOver && a != null && !"missing".equals(a.filesState())) {
          // Files are written just after the commit that woke us; their completion wakes us again (NOTIFY).
          if ("pending".equals(a.filesState())) {
            return new Built(null, 0.5, IMAGE_PENDING);
          }
          return new Built(null, Math.max(1, Math.min(5, graceSeconds - ageSeconds)), "image file missing");
        } else {
          // RB-05: never a silent image = null; say why it is absent.
          fields.put("imageMissing", true)
              .put("imageMissingReason", a == null ? "annotation purged" : "missing".equals(a.filesState())
                  ? "image lost (flagged missing by the reconciler)" : "image file missing after grace period");
          imageMissing.increment();
          LOG.warn("outbox: publishing Created {} without its image ({})", id,
              fields.getString("imageMissingReason"));
        }
      }
    }
    return new Built(StreamContract.encode(fields, null), 0, null);
  }

  /**
   * Hands the messages to the client on the drainer's one thread (so sends keep the order of publishing ids);
   * the outcomes complete on this verticle's context, when the last arrives or at the client's confirm timeout
   * plus a margin.
   */
  private Future<Sent> send(StreamPublisher p, List<Ready> ready, Map<Long, Long> publishingIds) {
    if (ready.isEmpty()) {
      return Future.succeededFuture(null);
    }
    Promise<Outcome[]> outcomes = Promise.promise();
    io.vertx.core.Context here = context;
    return executor.executeBlocking(() -> {
      List<Message> messages = new ArrayList<>(ready.size());
      for (Ready r : ready) {
        var props = p.messageBuilder().publishingId(publishingIds.get(r.row().id()))
            .properties().messageId(r.row().id()).contentType(StreamContract.CONTENT_TYPE)
            .contentEncoding(StreamContract.CONTENT_ENCODING).messageBuilder()
            .applicationProperties().entry("schema-version", StreamContract.SCHEMA_VERSION)
            .entry("operation", r.operation());
        if (r.annotationId() != null) {
          props.entry("annotation-id", r.annotationId());
        } else {
          props.entry("annotation-count", r.annotations());
        }
        messages.add(props.messageBuilder().addData(r.body()).build());
      }
      return p.send(messages, nanos -> confirmLatency.record(nanos, TimeUnit.NANOSECONDS),
          all -> here.runOnContext(v -> outcomes.tryComplete(all.outcomes())));
    }).map(pending -> {
      long timer = vertx.setTimer(p.outcomeDeadline().toMillis(), t -> outcomes.tryComplete(pending.outcomes()));
      outcomes.future().onComplete(x -> vertx.cancelTimer(timer));
      return new Sent(ready, outcomes.future());
    });
  }

  /**
   * Waits for a sent batch's outcomes and settles each row: confirmed rows are deleted; rows that certainly did not
   * reach the broker are released (they get new, higher ids); rows whose fate is unknown (written to a connection
   * that was lost, or whose confirm timed out) keep their publishing ids, so that the re-send the next run starts
   * with is dropped by the broker if it has them already. Answers how many rows left the outbox, or fails when some
   * were not confirmed.
   */
  private Future<Integer> settle(Sent sent, boolean nextInFlight) {
    if (sent == null) {
      return Future.succeededFuture(0);
    }
    return sent.outcomes().compose(outcomes -> {
      List<Long> confirmed = new ArrayList<>();
      List<Long> notSent = new ArrayList<>();
      int unknown = 0;
      for (int i = 0; i < outcomes.length; i++) {
        long id = sent.ready().get(i).row().id();
        switch (outcomes[i]) {
          case CONFIRMED -> confirmed.add(id);
          case NOT_SENT -> notSent.add(id);
          case UNKNOWN -> unknown++;
        }
      }
      if (!confirmed.isEmpty()) {
        CrashPoints.reach(CrashPoints.OUTBOX_AFTER_CONFIRM);
        if (nextInFlight) {
          CrashPoints.reach(CrashPoints.OUTBOX_AFTER_CONFIRM_NEXT_SENT);
        }
      }
      int failed = notSent.size() + unknown;
      published.increment(confirmed.size());
      failures.increment(failed);
      int unknownRows = unknown;
      return repo.delete(confirmed).compose(x -> repo.release(notSent)).compose(x -> failed == 0
          ? Future.succeededFuture(confirmed.size())
          : Future.failedFuture(failed + " of " + outcomes.length + " messages not confirmed by the broker ("
              + notSent.size() + " not sent, " + unknownRows + " unknown: re-sent under their publishing ids)"));
    });
  }

  /** Settles a batch on the way out of a failed run: what the broker confirmed still leaves the outbox. */
  private Future<Void> settleQuietly(Sent sent) {
    return settle(sent, false).<Void>mapEmpty().otherwise(e -> {
      LOG.debug("outbox drainer: settling the other batch in flight failed too: {}", e.toString());
      return null;
    });
  }
}
