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
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
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
 *   <li>a batch costs three statements (read rows with their annotations, assign ids, delete), and its stages
 *   overlap: once one batch has its ids, the next is read and its bodies built on threads of their own while this
 *   one is sent and the one before it waits for its confirms and is deleted; at most two sent batches await their
 *   confirms;</li>
 *   <li>new rows wake the leader through LISTEN/NOTIFY; a poll is the safety net; while the broker is away it backs
 *   off (doubling up to outbox.max_backoff_ms) and resumes by itself.</li>
 * </ul>
 */
public final class OutboxVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(OutboxVerticle.class);
  public static final String CHANNEL = "osprey_outbox";
  /**
   * Bodies built per batch, at most (one larger message still goes alone): images may be 50 MB each, a batch holds
   * every body in memory until the broker confirms, and three batches' bodies live at once (two sent, awaiting
   * their confirms, and the next one built): 60 MiB in all.
   */
  private static final long ROUND_BYTES = 20L << 20;
  /**
   * Threads that build one batch's bodies at once: two where the machine has two cores or more (building was the
   * longest stage of a batch on one thread: 21 ms of the 37 ms that a batch of 500 took, warm).
   */
  private static final int BUILD_THREADS = Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
  /** A batch smaller than twice this is built on one thread. */
  private static final int ROWS_PER_BUILD_THREAD = 16;
  /** How often at most the drainer looks whether the planner's statistics know about a backlog. */
  private static final long STATISTICS_CHECK_NANOS = TimeUnit.SECONDS.toNanos(60);
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

  /** The publisher's thread: sends (one thread keeps them in publishing-id order), connecting and closing. */
  private WorkerExecutor executor;
  /** The bodies' threads: image files are read and bodies encoded here, while the publisher's thread sends. */
  private WorkerExecutor builder;
  private long statisticsCheckedAt;
  private final DrainTimes times = new DrainTimes();
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
    builder = vertx.createSharedWorkerExecutor("osprey-outbox-build-" + deploymentID(), BUILD_THREADS);
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
        .eventually(() -> executor.close()).eventually(() -> builder.close());
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
    times.begin();
    run().onComplete(r -> {
      draining = false;
      times.end();
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
   * then new batches, each read and built while the one before it is sent. Answers whether it stopped with rows
   * maybe left (after {@link #BATCHES_PER_RUN} batches, so that the chain of futures stays short).
   */
  private Future<Boolean> run() {
    return ensurePublisher().compose(p -> (recovering ? recover(p) : Future.<Void>succeededFuture())
        .compose(v -> pipeline(p, null, readAndBuild(), BATCHES_PER_RUN)));
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

  /** Messages handed to the client, and their outcomes to come (one flag per row of {@code ready}). */
  private record Sent(List<Ready> ready, Future<Outcome[]> outcomes) {
  }

  /** A batch read and built: how many rows were read, and the messages ready for their publishing ids. */
  private record Batch(int rows, List<Ready> ready) {
  }

  /**
   * Gives the batch {@code next} (read and built meanwhile) its publishing ids and sends it while the previous one
   * ({@code inFlight}) waits for its confirms, then settles the previous one (deletes what the broker confirmed), and
   * goes on with the one just sent. Once this batch has its ids, the next one is read and built (on the bodies'
   * threads) while this one is sent (on the publisher's thread) and the previous one settles. At most two batches
   * are sent and unsettled; publishing ids are given batch after batch, each after the previous batch was handed to
   * the client, so they grow along the sends, and whatever a crash leaves is a tail of publishing ids that the next
   * leader re-sends in order, and the broker drops the part it already has.
   *
   * <p>The next batch is read only after this one's ids are committed, so the read needs nothing but "no publishing
   * id yet" to leave this batch's rows alone, and it starts from the oldest row as every read does: a row whose
   * transaction committed late, after rows with higher ids were read, is in the next batch, ahead of any later
   * change of its annotations.
   */
  private Future<Boolean> pipeline(StreamPublisher p, Sent inFlight, Future<Batch> next, int batchesLeft) {
    return next.transform(built -> {
      if (built.failed()) {
        return settleQuietly(inFlight).compose(x -> Future.failedFuture(built.cause()));
      }
      Batch b = built.result();
      if (b.rows() == 0) {
        return settle(inFlight, false).map(false);
      }
      Future<Map<Long, Long>> ids = assign(b.ready());
      Future<Batch> following = batchesLeft > 1 ? ids.compose(x -> readAndBuild()) : null;
      return ids.compose(x -> send(p, b.ready(), x)).transform(sent -> {
        if (sent.failed()) {
          return settleQuietly(inFlight).compose(x -> Future.failedFuture(sent.cause()));
        }
        Sent s = sent.result();
        return settle(inFlight, s != null).transform(previous -> {
          if (previous.failed()) {
            return settleQuietly(s).compose(x -> Future.failedFuture(previous.cause()));
          }
          if (following == null) {
            return settle(s, false).map(true);
          }
          return pipeline(p, s, following, batchesLeft - 1);
        });
      });
    });
  }

  /**
   * Reads the next rows and builds their bodies. (If the run fails meanwhile, the rows are left as they are: nothing
   * was leased.)
   */
  private Future<Batch> readAndBuild() {
    long start = System.nanoTime();
    return repo.next(batch).compose(rows -> {
      times.read(start, rows.size());
      if (rows.isEmpty()) {
        return Future.succeededFuture(new Batch(0, List.of()));
      }
      if (rows.size() == batch) {
        checkStatistics();
      }
      return materialize(rows, true).map(ready -> new Batch(rows.size(), ready));
    });
  }

  /** Gives the built messages their publishing ids, in this order. */
  private Future<Map<Long, Long>> assign(List<Ready> ready) {
    if (ready.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    long start = System.nanoTime();
    return repo.assign(producerName, ready.stream().map(m -> m.row().id()).toList(), brokerLast)
        .onSuccess(x -> times.assign(start));
  }

  /**
   * While a backlog is drained (a read returned a whole batch), at most once a minute: refreshes the outbox's
   * planner statistics when they do not show that most rows are unleased (see
   * {@link OutboxRepository#statisticsKnowBacklog()}). Runs beside the drain; the reads after it get the plan.
   */
  private void checkStatistics() {
    long now = System.nanoTime();
    if (statisticsCheckedAt != 0 && now - statisticsCheckedAt < STATISTICS_CHECK_NANOS) {
      return;
    }
    statisticsCheckedAt = now;
    repo.statisticsKnowBacklog().compose(known -> known ? Future.succeededFuture(false)
            : repo.analyze().map(true))
        .onSuccess(analyzed -> {
          if (analyzed) {
            LOG.info("outbox drainer: refreshed the planner statistics of annotation_outbox (a backlog the last"
                + " statistics did not show: reading each batch scanned the whole table)");
          }
        })
        .onFailure(e -> LOG.warn("outbox drainer: could not refresh the outbox's planner statistics: {}",
            e.toString()));
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
   * Builds the message bodies on the bodies' threads (reading images off the event loop), then looks at them in row
   * order. A Created row whose image is not there yet is held, and every later row of this batch about the same
   * annotations is left for a later read (which skips rows behind a held one); with {@code mayHold} false (rows that
   * already carry publishing ids) nothing is held: the image is sent if present, else flagged. The holds are written
   * before the batch is returned, so the next read (which starts once this batch has its ids) already skips what they
   * hold back.
   */
  private Future<List<Ready>> materialize(List<OutboxRow> rows, boolean mayHold) {
    long start = System.nanoTime();
    return paths.get().compose(dirs -> {
      Claims claims = new Claims(rows);
      int threads = rows.size() >= 2 * ROWS_PER_BUILD_THREAD ? BUILD_THREADS : 1;
      List<Future<Void>> parts = new ArrayList<>(threads);
      for (int t = 0; t < threads; t++) {
        // Unordered: the threads build the same batch at once, each taking the next row in turn.
        parts.add(builder.executeBlocking(() -> {
          buildClaimed(claims, dirs, mayHold);
          return null;
        }, false));
      }
      return Future.all(parts).map(x -> claims.built);
    }).compose(built -> {
      List<Ready> ready = new ArrayList<>();
      List<OutboxRepository.Hold> holds = new ArrayList<>();
      Set<String> blocked = new HashSet<>();
      long bytes = 0;
      for (int i = 0; i < rows.size(); i++) {
        Built b = built[i];
        if (b == null || bytes >= ROUND_BYTES) {
          // The rest waits for the next batch, which follows at once; stopping here keeps the order.
          break;
        }
        OutboxRow row = rows.get(i);
        if (mayHold && !blocked.isEmpty() && row.annotationIds().stream().anyMatch(blocked::contains)) {
          // Not sent, and not held either: while the earlier row is held, reading the outbox skips this one. (Its
          // body was built with the others, for nothing: holds are rare.)
          blocked.addAll(row.annotationIds());
          continue;
        }
        if (b.holdSeconds > 0) {
          holds.add(new OutboxRepository.Hold(row.id(), b.holdSeconds, b.holdReason,
              b.holdReason.equals(IMAGE_PENDING)));
          blocked.addAll(row.annotationIds());
          continue;
        }
        if (b.sent != null) {
          b.sent.run();
        }
        ready.add(new Ready(row, b.body, row.operation(), row.annotationIds().size() == 1
            ? row.annotationIds().get(0) : null, row.annotationIds().size()));
        bytes += b.body.length;
      }
      if (!holds.isEmpty()) {
        // The files' completion wakes the drainer; this timer is for the holds that nothing else ends.
        double shortest = holds.stream().mapToDouble(OutboxRepository.Hold::seconds).min().orElse(1);
        vertx.setTimer(Math.max(10, Math.round(shortest * 1000) + 10), t -> drain());
      }
      return repo.hold(holds).map(x -> {
        times.build(start, ready.size());
        return ready;
      });
    });
  }

  /**
   * One batch's rows handed out to the bodies' threads in row order, with the bytes their images will take: no row
   * after the first is taken once {@link #ROUND_BYTES} are spoken for, so a batch of large images does not build
   * bodies that the batch will not send. Guarded by its own lock.
   */
  private static final class Claims {
    final List<OutboxRow> rows;
    final Built[] built;
    int next;
    long reserved;

    Claims(List<OutboxRow> rows) {
      this.rows = rows;
      this.built = new Built[rows.size()];
    }
  }

  /** Takes the next row of {@code claims} and builds it, until none is left or the bytes are spoken for. */
  private void buildClaimed(Claims claims, Directories dirs, boolean mayHold) throws java.io.IOException {
    while (true) {
      int i;
      Image image;
      synchronized (claims) {
        i = claims.next;
        if (i >= claims.rows.size() || (i > 0 && claims.reserved >= ROUND_BYTES)) {
          return;
        }
        claims.next++;
        image = image(claims.rows.get(i), dirs);
        // A body is its image and about a kilobyte of fields.
        claims.reserved += 1024 + (image == null || image.attributes() == null ? 0 : image.attributes().size());
      }
      claims.built[i] = build(claims.rows.get(i), mayHold, image);
    }
  }

  /** A Created row's image file and its attributes (null when there is no such file). */
  private record Image(Path file, BasicFileAttributes attributes) {
  }

  /** The image a row's message may carry: a Created row about one annotation that still exists; else null. */
  private static Image image(OutboxRow row, Directories dirs) throws java.io.IOException {
    AnnotationInfo a = row.annotation();
    if (a == null || row.annotationIds().size() != 1 || !row.operation().equals(AnnotationStatus.Operation.CREATED)) {
      return null;
    }
    Path file = dirs.image(row.annotationIds().get(0), a.imageFormat());
    return new Image(file, attributes(file));
  }

  /** The hold reason that the annotation's file completion clears (AnnotationRepository#filesState). */
  private static final String IMAGE_PENDING = "image not written yet";

  /**
   * A row's body, or why it is held; {@code sent} (may be null) is what to log and count once the body is taken
   * into the batch (not when it was built: a row held back behind another is built for nothing).
   */
  private record Built(byte[] body, double holdSeconds, String holdReason, Runnable sent) {
    Built(byte[] body) {
      this(body, 0, null, null);
    }

    static Built held(double seconds, String reason) {
      return new Built(null, seconds, reason, null);
    }
  }

  /** Builds a row's body, on a bodies' thread; {@code image} is what {@link #image} found for it. */
  private Built build(OutboxRow row, boolean mayHold, Image image) throws java.io.IOException {
    JsonObject payload = new JsonObject(row.payloadText());
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
        Path file = image == null ? null : image.file();
        if (a != null && fields.getString("imageFormat") == null) {
          fields.put("imageFormat", a.imageFormat());
        }
        BasicFileAttributes attributes = image == null ? null : image.attributes();
        if (attributes != null && attributes.isRegularFile()) {
          long size = attributes.size();
          int maxBody = frames.maxMessageBytes();
          if (size < maxBody) {
            // The exact test is on the encoded body (gzip and the other fields add a little).
            byte[] withImage = StreamContract.encode(fields, Files.readAllBytes(file));
            if (withImage.length <= maxBody) {
              return new Built(withImage);
            }
          }
          fields.put("imageOmitted", "too_large").put("imageSize", size);
          return new Built(StreamContract.encode(fields, null), 0, null, () -> LOG.info("outbox: publishing Created {}"
              + " without its image: {} bytes do not fit in a message of {} bytes (see the stream frames line logged"
              + " at start)", id, size, maxBody));
        } else if (mayHold && !graceOver && a != null && !"missing".equals(a.filesState())) {
          // Files are written just after the commit that woke us; their completion wakes us again (NOTIFY).
          if ("pending".equals(a.filesState())) {
            return Built.held(0.5, IMAGE_PENDING);
          }
          return Built.held(Math.max(1, Math.min(5, graceSeconds - ageSeconds)), "image file missing");
        } else {
          // RB-05: never a silent image = null; say why it is absent.
          fields.put("imageMissing", true)
              .put("imageMissingReason", a == null ? "annotation purged" : "missing".equals(a.filesState())
                  ? "image lost (flagged missing by the reconciler)" : "image file missing after grace period");
          String reason = fields.getString("imageMissingReason");
          return new Built(StreamContract.encode(fields, null), 0, null, () -> {
            imageMissing.increment();
            LOG.warn("outbox: publishing Created {} without its image ({})", id, reason);
          });
        }
      }
    }
    return new Built(StreamContract.encode(fields, null));
  }

  /** The file's attributes (one stat for "is it there" and its size), or null when there is no such file. */
  private static BasicFileAttributes attributes(Path file) throws java.io.IOException {
    try {
      return Files.readAttributes(file, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      return null;
    }
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
    long start = System.nanoTime();
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
      times.send(start);
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
    long waiting = System.nanoTime();
    return sent.outcomes().compose(outcomes -> {
      times.confirms(waiting);
      long deleting = System.nanoTime();
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
      return repo.delete(confirmed).onSuccess(x -> times.delete(deleting, confirmed.size()))
          .compose(x -> repo.release(notSent)).compose(x -> failed == 0
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
