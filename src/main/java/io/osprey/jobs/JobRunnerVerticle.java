package io.osprey.jobs;

import io.osprey.bus.Bus;
import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.osprey.inference.InferenceException;
import io.osprey.inference.ModelRegistry;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs detection jobs handed over the event bus by the queue consumer. The job's bookkeeping (leases, state
 * changes, progress, results rows, status cache, retries, cancellation, annotations) is asynchronous on this
 * verticle's event loop; each image's blocking work (the {@link io.osprey.pipeline.ImagePipeline}: decode, sliced
 * inference, the rules stage when the job enables it, result files) is sent over the local event bus
 * ({@link Bus#PIPELINE_IMAGE}) to a free one of the {@code jobs.worker_instances} {@link PipelineWorkerVerticle}s,
 * each with its own engines over the shared model sessions.
 *
 * <p>Errors follow the spec's worker table: a missing or unreadable model, a missing or undecodable image, an
 * impossible configuration and a failing rule set fail the job at once; inference and storage errors are retried with exponential
 * backoff and fail the job with MAX_RETRIES when attempts run out; a message delivered more than
 * {@code jobs.max_deliveries} times (workers died on it) fails with MAX_RETRIES. Results of images finished before
 * a crash are kept and the rerun resumes after them; a failed job's partial results are removed.
 *
 * <p>Leases (issue 15): the runner takes a job by taking its lease in PostgreSQL (owner: this process's worker
 * id, expiry: {@code jobs.lease_seconds} ahead) and tells the consumer at once, so the broker delivery is
 * acknowledged long before the broker's consumer timeout. The lease is renewed every
 * {@code jobs.lease_renew_seconds} while the job runs; every write of the job (progress, results, final state) is
 * conditional on still holding it, so a worker that lost its lease (it stalled and the sweep handed the job on)
 * stops after its current image and writes nothing more. A job running longer than
 * {@code jobs.max_processing_seconds} since its first start fails with PROCESSING_TIMEOUT, keeping its results.
 */
public final class JobRunnerVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(JobRunnerVerticle.class);
  private static final Set<InferenceException.Code> FINAL = Set.of(InferenceException.Code.MODEL_LOAD_ERROR,
      InferenceException.Code.FILE_NOT_FOUND, InferenceException.Code.CORRUPTED_FILE,
      InferenceException.Code.INVALID_DIMENSIONS,
      InferenceException.Code.INVALID_CONFIG, InferenceException.Code.RULES_ERROR);

  /** An image can take minutes on a CPU; the runner's own bookkeeping, not this bound, decides when to stop. */
  private static final DeliveryOptions IMAGE = new DeliveryOptions().setSendTimeout(24L * 3600 * 1000);

  private final JobRepository jobs;
  private final ModelRegistry models;
  private final StorageLayout layout;
  private final StatusCache cache;
  private final JobMetrics metrics;
  private final int maxDeliveries;
  private final int retryAttempts;
  private final long retryBackoffMs;
  private final AnnotationSink annotations;
  private final Leasing leasing;
  /** Jobs this worker runs now (event-loop state). */
  private final Set<Held> holding = new HashSet<>();
  /** Pipeline worker instances with no image now, and images waiting for one (event-loop state). */
  private final Deque<Integer> idleWorkers = new ArrayDeque<>();
  private final Deque<Runnable> waitingImages = new ArrayDeque<>();
  /** Publishes a handed-back job again (see {@link #republishVia}); null: the maintenance republisher does. */
  private volatile Function<String, Future<Void>> republisher;
  private io.vertx.core.Context context;
  /** Set by {@link #drain}: no job is started, and a running one is handed back after its current image. */
  private volatile boolean draining;
  /** Jobs between their start and a safe state (completed, failed, cancelled or handed back); event loop only. */
  private int running;
  private Promise<Void> drained;

  /**
   * How this process holds jobs: its worker id (the lease owner), the lease length, how often it is renewed, and
   * the longest a job may run.
   */
  public record Leasing(String workerId, int leaseSeconds, int renewSeconds, int maxProcessingSeconds) {
    /** Renewal period in ms: at most half the lease, so one late renewal never lets it lapse. */
    long renewMs() {
      return Math.max(1000L, Math.min(renewSeconds * 1000L, leaseSeconds * 500L));
    }
  }

  /**
   * When a job gives up: more than {@code maxDeliveries} takes (workers died on it), or an image failing
   * {@code attempts} times, retried after {@code backoffMs}, doubled each time.
   */
  public record Retries(int maxDeliveries, int attempts, long backoffMs) {
  }

  /**
   * @param pipelineWorkers how many {@link PipelineWorkerVerticle} instances are deployed (jobs.worker_instances)
   * @param annotations     null where the process makes no annotations
   */
  public JobRunnerVerticle(JobRepository jobs, ModelRegistry models, StorageLayout layout, StatusCache cache,
                           JobMetrics metrics, int pipelineWorkers, Retries retries, AnnotationSink annotations,
                           Leasing leasing) {
    this.jobs = jobs;
    this.models = models;
    this.layout = layout;
    this.cache = cache;
    this.metrics = metrics;
    this.maxDeliveries = retries.maxDeliveries();
    this.retryAttempts = retries.attempts();
    this.retryBackoffMs = retries.backoffMs();
    this.annotations = annotations;
    this.leasing = leasing;
    for (int i = 0; i < pipelineWorkers; i++) {
      idleWorkers.add(i);
    }
  }

  @Override
  public Future<?> start() {
    context = vertx.getOrCreateContext();
    return vertx.eventBus().<JsonObject>localConsumer(Bus.JOBS_RUN, this::onRun).completion();
  }

  /**
   * Graceful stop, step one (the process already stopped consuming): no job is started from now on, a running job
   * finishes the image in progress and is then handed back. Completes when no job runs here any more; the caller
   * bounds the wait (shutdown.grace_seconds) and, past it, closes the models so the image stops at its next batch
   * and its job is handed back too.
   */
  public Future<Void> drain() {
    if (context == null) {
      return Future.succeededFuture(); // never started
    }
    Promise<Void> done = Promise.promise();
    context.runOnContext(x -> {
      draining = true;
      if (drained == null) {
        drained = Promise.promise();
      }
      if (running == 0) {
        drained.tryComplete();
      }
      drained.future().onComplete(done);
    });
    return done.future();
  }

  @Override
  public Future<?> stop() {
    draining = true;
    return Future.succeededFuture();
  }

  /**
   * Optional field of a {@link Bus#JOBS_RUN} request: a local event-bus address told {@code {"job_id"}} as soon as
   * the lease question is settled (taken, or the job is not to be run here), so the delivery can be acknowledged.
   */
  static final String LEASE_ADDRESS = "lease_address";

  private void onRun(Message<JsonObject> message) {
    Bus.RunJob run = Bus.RunJob.fromJson(message.body());
    String leaseAddress = message.body().getString(LEASE_ADDRESS);
    Runnable settled = leaseAddress == null ? () -> { }
        : () -> vertx.eventBus().send(leaseAddress, new JsonObject().put("job_id", run.jobId()));
    running++;
    runJob(run, settled).onComplete(done -> {
      running--;
      if (draining && running == 0 && drained != null) {
        drained.tryComplete();
      }
      if (done.succeeded()) {
        message.reply(null);
      } else if (done.cause() instanceof HandedBack) {
        message.fail(Bus.FAILURE_HANDED_BACK, done.cause().getMessage());
      } else {
        LOG.error("job {} could not be brought to a safe state: {}", run.jobId(), done.cause().toString());
        message.fail(500, String.valueOf(done.cause().getMessage()));
      }
    });
  }

  /**
   * Completes when the job is in a final or safely recorded state (or handed back: {@link HandedBack});
   * {@code settled} runs once the lease question is decided (the delivery may then be acknowledged: the lease, not
   * the delivery, keeps the job). A draining worker takes no lease: the delivery, unsettled, goes back to the broker.
   */
  Future<Void> runJob(Bus.RunJob run, Runnable settled) {
    if (draining) {
      return handBack(run.jobId(), "this worker is stopping; not started", false);
    }
    return jobs.takeLease(run.jobId(), leasing.workerId(), leasing.leaseSeconds()).compose(job -> {
      settled.run();
      if (job == null) {
        // Cancelled while queued, already finished, or a second delivery of a job another live worker holds.
        LOG.info("job {}: delivery dropped (finished, or held by a live worker)", run.jobId());
        return Future.succeededFuture();
      }
      long deliveries = Math.max(run.deliveries(), job.attempts());
      if (deliveries > maxDeliveries) {
        return failJob(job.jobId(), error("MAX_RETRIES", "Job failed after " + maxDeliveries + " deliveries",
            "Workers stopped while processing this job " + (deliveries - 1) + " times."), false);
      }
      metrics.started();
      long startNanos = System.nanoTime();
      Held held = new Held(job);
      holding.add(held);
      held.timer = vertx.setPeriodic(leasing.renewMs(), t -> renew(held));
      cache.put(job);
      // The stored config was validated at predict time; parsing it again only fills the engine's parameters.
      JobConfig config = JobConfig.parse(job.config(), new ArrayList<>());
      return jobs.uploadFiles(job.uploadId())
          .compose(files -> jobs.results(job.jobId()).map(done -> new Work(job, config, files, done, held)))
          .compose(work -> loadModel(config.model()).compose(x -> processFrom(work, 0)))
          .compose(outcome -> finish(job, outcome, startNanos, held))
          .recover(e -> {
            if (e instanceof HandedBack || draining && !finalFailure(e)) {
              metrics.finished(Duration.ofNanos(System.nanoTime() - startNanos), 0, 0, JobRow.PROCESSING);
              held.lost = true; // stop renewing: the lease is given back now
              return handBack(job.jobId(), e instanceof HandedBack ? e.getMessage()
                  : "this worker is stopping (" + e.getMessage() + ")", true);
            }
            boolean jobFails = e instanceof InferenceException || e instanceof RetriesExhausted;
            metrics.finished(Duration.ofNanos(System.nanoTime() - startNanos), 0, 0,
                jobFails ? JobRow.FAILED : JobRow.PROCESSING);
            if (!jobFails) {
              // The job stays processing; letting the lease lapse now makes the next sweep hand it on.
              jobs.releaseLease(job.jobId(), leasing.workerId());
            }
            return failure(job.jobId(), e);
          })
          .onComplete(x -> {
            vertx.cancelTimer(held.timer);
            holding.remove(held);
          });
    });
  }

  /** A failure that ends the job whatever the worker's state: bad input, a broken model, retries used up. */
  private static boolean finalFailure(Throwable e) {
    return e instanceof InferenceException ie && FINAL.contains(ie.code()) || e instanceof RetriesExhausted;
  }

  /**
   * Where a handed-back job is published again (the worker's own queue, whose channel stays open while it drains);
   * without one the maintenance republisher hands the job on (its row is marked not enqueued).
   */
  public void republishVia(Function<String, Future<Void>> publisher) {
    this.republisher = publisher;
  }

  /**
   * Gives a job this worker will not finish back: its stored results stay, its row stays processing and the next
   * worker's take resumes after the images already done. Completes failed with {@link HandedBack}, which reaches
   * the consumer as {@link Bus#FAILURE_HANDED_BACK}.
   * <ul>
   * <li>Not leased yet ({@code leased} false, a draining worker got a delivery): the consumer nacks the
   *     unacknowledged delivery with requeue.</li>
   * <li>Leased (the delivery was acknowledged when the lease was taken): the lease is released at once and the
   *     take is uncounted ({@link JobRepository#handBackLease}: {@code attempts - 1}, so a graceful hand-back never
   *     counts toward jobs.max_deliveries), and the job id is published again right away, so another worker takes
   *     it within moments rather than after a lease expiry and a sweep. If the publish fails, the row stays marked
   *     not enqueued and the maintenance republisher publishes it; if even the release fails (database away), the
   *     lease lapses and the sweep hands the job on (that one counted, as for a crash).</li>
   * </ul>
   */
  private Future<Void> handBack(String jobId, String why, boolean leased) {
    LOG.info("job {} handed back: {}", jobId, why);
    HandedBack handedBack = new HandedBack(jobId, why);
    if (!leased) {
      return Future.failedFuture(handedBack);
    }
    Function<String, Future<Void>> publisher = republisher;
    return jobs.handBackLease(jobId, leasing.workerId())
        .compose(row -> {
          if (row == null) {
            return Future.succeededFuture(); // no longer ours (ended, or swept): nothing to hand on
          }
          cache.put(row);
          if (publisher == null) {
            return Future.succeededFuture();
          }
          return publisher.apply(jobId).compose(x -> jobs.markEnqueued(jobId))
              .onFailure(e -> LOG.info("job {}: not published again ({}); the maintenance republisher will", jobId,
                  e.getMessage()))
              .otherwiseEmpty();
        })
        .onFailure(e -> LOG.warn("job {}: lease not handed back ({}); it lapses and the sweep hands the job on",
            jobId, e.getMessage()))
        .transform(x -> Future.failedFuture(handedBack));
  }

  /** The job was handed back by a stopping worker (see {@link #handBack}); not a failure of the job. */
  static final class HandedBack extends Exception {
    HandedBack(String jobId, String why) {
      super(why, null, false, false);
    }
  }

  /**
   * For a shutdown past its grace: jobs still held here (they did not reach a safe state in time) stop being
   * renewed and their leases lapse now, so the next maintenance sweep hands them to another worker instead of
   * waiting for the leases to expire. Counted toward jobs.max_deliveries like a crash (the job did not stop
   * cleanly). The jobs' writes stop being accepted once another worker takes them.
   */
  public Future<Void> releaseLeases() {
    if (context == null) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      List<Future<Void>> released = new ArrayList<>();
      for (Held held : holding) {
        vertx.cancelTimer(held.timer);
        held.lost = true;
        LOG.warn("job {}: still running at the end of the shutdown; its lease is released for the sweep",
            held.job.jobId());
        released.add(jobs.releaseLease(held.job.jobId(), leasing.workerId()).otherwiseEmpty());
      }
      Future.join(released).<Void>mapEmpty().onComplete(done);
    });
    return done.future();
  }

  /** A job this worker holds the lease of, while it runs it (event-loop state only). */
  private static final class Held {
    final JobRow job;
    long timer;
    /** Images with a stored result, for the timeout's report. */
    int processed;
    /** The lease was found lost: stop, write nothing. */
    boolean lost;
    /** Failed with PROCESSING_TIMEOUT (by this worker): stop. */
    boolean timedOut;
    /**
     * An image's result row and progress are being written: the timeout waits for the next image boundary, so
     * its report ("n of N images") counts exactly the rows kept.
     */
    boolean recording;

    Held(JobRow job) {
      this.job = job;
    }

    boolean stopped() {
      return lost || timedOut;
    }
  }

  private boolean overTime(Held held) {
    OffsetDateTime started = held.job.startedAt();
    return started != null
        && OffsetDateTime.now().isAfter(started.plusSeconds(leasing.maxProcessingSeconds()));
  }

  /** Renewal tick: extend the lease, or notice it was lost, or end a job that ran too long. */
  private void renew(Held held) {
    if (held.stopped()) {
      return;
    }
    if (overTime(held)) {
      if (!held.recording) {
        timeOut(held); // else step() times the job out once the image is recorded
      }
      return;
    }
    jobs.renewLease(held.job.jobId(), leasing.workerId(), leasing.leaseSeconds())
        .onSuccess(still -> {
          if (!still && !held.stopped()) {
            held.lost = true;
            LOG.warn("job {}: lease lost (swept, or the job ended elsewhere); stopping after the current image",
                held.job.jobId());
          }
        })
        .onFailure(e -> LOG.warn("job {}: lease not renewed ({}); retrying", held.job.jobId(), e.getMessage()));
  }

  /** Fails the job with PROCESSING_TIMEOUT, keeping its results; the image in hand is not recorded. */
  private Future<Void> timeOut(Held held) {
    if (held.timedOut) {
      return Future.succeededFuture();
    }
    held.timedOut = true;
    JobRow job = held.job;
    LOG.warn("job {} failed: running longer than {} s ({} of {} images processed)", job.jobId(),
        leasing.maxProcessingSeconds(), held.processed, job.totalImages());
    return jobs.fail(job.jobId(), leasing.workerId(), error("PROCESSING_TIMEOUT", "Job took too long",
            "The job ran longer than " + leasing.maxProcessingSeconds() + " seconds; " + held.processed + " of "
                + job.totalImages() + " images were processed and their results are kept."))
        .compose(row -> {
          if (row == null) {
            return Future.succeededFuture();
          }
          metrics.jobCounted(JobRow.FAILED);
          return cache.put(row);
        })
        .onFailure(e -> {
          held.timedOut = false; // try again on the next tick
          LOG.warn("job {}: timeout not recorded: {}", job.jobId(), e.getMessage());
        });
  }

  private record Work(JobRow job, JobConfig config, List<JobRepository.UploadedFile> files,
                      List<JobRepository.ResultRow> done, Held held) {
  }

  /**
   * How a job's image loop ended. STOPPED: this worker no longer holds the job (lease lost, or timed out), so it
   * leaves it alone.
   */
  private enum Outcome { COMPLETED, CANCELLED, STOPPED }

  /**
   * Loads the job's model before its first image (blocking, on the shared worker pool), so a missing or broken
   * model fails the job at once; the pipeline workers then find it loaded.
   */
  private Future<Void> loadModel(String name) {
    return vertx.executeBlocking(() -> models.get(name), false).mapEmpty();
  }

  private Future<Outcome> processFrom(Work work, int index) {
    Set<String> finished = new HashSet<>();
    work.done().forEach(r -> finished.add(r.fileId()));
    Map<String, JobRepository.UploadedFile> byId = new HashMap<>();
    work.files().forEach(f -> byId.put(f.fileId(), f));
    List<String> order = work.job().fileIds();
    Promise<Outcome> result = Promise.promise();
    work.held().processed = finished.size();
    step(work, order, byId, finished, index, finished.size(), result);
    return result.future();
  }

  private void step(Work work, List<String> order, Map<String, JobRepository.UploadedFile> byId,
                    Set<String> finished, int index, int processed, Promise<Outcome> result) {
    Held held = work.held();
    if (!held.stopped() && overTime(held)) {
      timeOut(held).onComplete(x -> result.complete(Outcome.STOPPED));
      return;
    }
    if (held.stopped()) {
      result.complete(Outcome.STOPPED);
      return;
    }
    if (index >= order.size()) {
      result.complete(Outcome.COMPLETED);
      return;
    }
    if (draining) {
      // The image in progress is stored; the next one is left to the worker that takes the job over.
      result.fail(new HandedBack(work.job().jobId(), "this worker is stopping; " + processed + " of "
          + order.size() + " image(s) done"));
      return;
    }
    String fileId = order.get(index);
    if (finished.contains(fileId)) {
      step(work, order, byId, finished, index + 1, processed, result);
      return;
    }
    JobRepository.UploadedFile file = byId.get(fileId);
    String jobId = work.job().jobId();
    if (file == null) {
      result.fail(new InferenceException(InferenceException.Code.FILE_NOT_FOUND,
          "file " + fileId + " is no longer part of upload " + work.job().uploadId()));
      return;
    }
    String stage = "Running SAHI inference on " + file.filename() + " (" + (processed + 1) + "/" + order.size() + ")";
    String owner = leasing.workerId();
    jobs.progress(jobId, owner, processed, stage)
        .onSuccess(row -> {
          if (row != null) {
            cache.put(row);
          }
        })
        .compose(row -> row == null ? Future.failedFuture(new NotHeld())
            : attempt(work, file, 1))
        .compose(image -> held.stopped() ? Future.failedFuture(new NotHeld())
            : annotate(work, file, image).map(image))
        .compose(image -> {
          held.recording = true;
          return jobs.saveResult(jobId, owner, fileId, index, image.detections(), image.meanConfidence(),
              image.annotated(), image.device());
        })
        .compose(saved -> jobs.progress(jobId, owner, processed + 1, "Finished " + file.filename()))
        .onComplete(x -> held.recording = false)
        .onFailure(e -> {
          if (e instanceof NotHeld) {
            result.complete(notHeld(jobId));
          } else {
            result.fail(e);
          }
        })
        .onSuccess(row -> {
          if (row == null) {
            result.complete(notHeld(jobId));
            return;
          }
          held.processed = processed + 1;
          cache.put(row);
          if (row.cancelRequested()) {
            result.complete(Outcome.CANCELLED);
            return;
          }
          step(work, order, byId, finished, index + 1, processed + 1, result);
        });
  }

  /** The job left this worker's hands between two writes (cancel, fail, timeout, or a lost lease). */
  private static final class NotHeld extends Exception {
    NotHeld() {
      super(null, null, false, false);
    }
  }

  /** No longer processing under this worker's lease: a cancel was finished elsewhere, or the lease was lost. */
  private Outcome notHeld(String jobId) {
    LOG.info("job {}: no longer held by this worker; leaving it", jobId);
    return Outcome.STOPPED;
  }

  /**
   * create_annotations: the image and its detections become an annotation through the annotations service's own
   * create path (rows, outbox, live event, files). An annotation of the same image already there (a redelivered
   * job, or the same photo in another upload) is kept as it is.
   */
  private Future<Void> annotate(Work work, JobRepository.UploadedFile file, Bus.ImageProcessed image) {
    JobConfig.Annotations wanted = work.config().annotations();
    if (!wanted.create() || annotations == null) {
      return Future.succeededFuture();
    }
    List<AnnotationSink.Box> boxes = image.boxes().stream()
        .map(b -> new AnnotationSink.Box(b.classId(), b.className(), b.centerX(), b.centerY(), b.width(),
            b.height(), b.confidence()))
        .toList();
    return annotations.create(new AnnotationSink.JobImage(layout.stored(file.storagePath()),
            file.filename(), wanted.flightId(), wanted.waypointId(), boxes, work.job().userId(),
            work.job().jobId()))
        .recover(e -> {
          if (e instanceof OspreyException x && x.code() == ErrorCode.ANNOTATION_EXISTS) {
            LOG.info("job {}: an annotation of {} exists already; kept", work.job().jobId(), file.filename());
            return Future.succeededFuture();
          }
          return Future.failedFuture(new IOException("annotation of " + file.filename() + " not created: "
              + e.getMessage(), e));
        });
  }

  /** One image, retried with exponential backoff on errors that may pass. */
  private Future<Bus.ImageProcessed> attempt(Work work, JobRepository.UploadedFile file, int attempt) {
    // A CUDA out-of-memory never gets here: the engine halves the batch, then goes to CPU (DetectionEngine).
    Bus.ProcessImage request = new Bus.ProcessImage(work.job().jobId(), file.fileId(),
        layout.stored(file.storagePath()).toString(), file.filename(), work.job().config());
    return process(request)
        .recover(e -> {
          if (e instanceof InferenceException ie && FINAL.contains(ie.code())) {
            return Future.failedFuture(e);
          }
          if (draining) {
            // Stopping: no retry here (the models may be closing under it); the next worker runs this image again.
            return Future.failedFuture(new HandedBack(work.job().jobId(), "this worker is stopping; image "
                + file.filename() + " not finished (" + e.getMessage() + ")"));
          }
          if (attempt >= retryAttempts) {
            return Future.failedFuture(new RetriesExhausted(file.filename(), attempt, e));
          }
          long delay = retryBackoffMs << (attempt - 1);
          LOG.warn("job {}: image {} failed (attempt {}/{}), retrying in {} ms: {}", work.job().jobId(),
              file.filename(), attempt, retryAttempts, delay, e.toString());
          Promise<Bus.ImageProcessed> retried = Promise.promise();
          vertx.setTimer(Math.max(1, delay), t -> attempt(work, file, attempt + 1).onComplete(retried));
          return retried.future();
        });
  }

  /**
   * Runs one image on a free pipeline worker (waiting for one when all are busy, which the consumer's slots make
   * rare). A failure comes back as {@link InferenceException} with the job error code when the pipeline knows it,
   * else as {@link ImageFailure} (or the bus's own failure), which a retry may overcome.
   */
  private Future<Bus.ImageProcessed> process(Bus.ProcessImage request) {
    Promise<Bus.ImageProcessed> done = Promise.promise();
    Runnable send = () -> {
      int worker = idleWorkers.poll();
      vertx.eventBus().<Bus.ImageReply>request(Bus.pipelineWorker(worker), request, IMAGE)
          .onComplete(reply -> {
            idleWorkers.push(worker);
            Runnable next = waitingImages.poll();
            if (next != null) {
              next.run();
            }
            if (reply.failed()) {
              done.fail(reply.cause());
            } else if (reply.result().body() instanceof Bus.ImageProcessed processed) {
              done.complete(processed);
            } else {
              Bus.ImageFailed failed = (Bus.ImageFailed) reply.result().body();
              done.fail(failed.code() == null ? new ImageFailure(failed.message())
                  : new InferenceException(InferenceException.Code.valueOf(failed.code()), failed.message()));
            }
          });
    };
    if (idleWorkers.isEmpty()) {
      waitingImages.add(send);
    } else {
      send.run();
    }
    return done.future();
  }

  /** An image failed in the pipeline for a reason a retry may overcome (storage, a closing model). */
  static final class ImageFailure extends Exception {
    ImageFailure(String message) {
      super(message, null, false, false);
    }
  }

  private Future<Void> finish(JobRow job, Outcome outcome, long startNanos, Held held) {
    Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
    if (outcome == Outcome.STOPPED) {
      metrics.finished(took, 0, 0, JobRow.PROCESSING); // counted by whoever ended it
      return jobs.find(job.jobId()).compose(current -> current == null ? Future.succeededFuture()
          : cache.put(current));
    }
    if (outcome == Outcome.CANCELLED) {
      return jobs.finishCancelled(job.jobId(), leasing.workerId()).compose(row -> {
        metrics.finished(took, 0, 0, JobRow.CANCELLED);
        if (row != null) {
          LOG.info("job {} cancelled after its current image", job.jobId());
          return cache.put(row);
        }
        return jobs.find(job.jobId()).compose(current -> current == null ? Future.succeededFuture()
            : cache.put(current));
      });
    }
    return jobs.results(job.jobId()).compose(rows -> {
      long total = rows.stream().mapToLong(JobRepository.ResultRow::detectionCount).sum();
      double weighted = rows.stream().filter(r -> r.meanConfidence() != null)
          .mapToDouble(r -> r.meanConfidence() * r.detectionCount()).sum();
      OffsetDateTime started = job.startedAt();
      long seconds = started == null ? took.toSeconds()
          : Duration.between(started, OffsetDateTime.now()).toSeconds();
      JsonObject summary = new JsonObject()
          .put("total_detections", total)
          .put("average_confidence", total == 0 ? 0.0 : Math.round(weighted / total * 1000) / 1000.0)
          .put("processing_time_seconds", seconds)
          .put("model", job.config().getString("model"));
      deviceSummary(rows, summary);
      Future<JsonObject> full = job.config().getBoolean("create_annotations", false) && annotations != null
          ? annotations.countForJob(job.jobId()).map(n -> summary.put("annotations_created", n))
          : Future.succeededFuture(summary);
      return full.compose(s -> jobs.complete(job.jobId(), leasing.workerId(), s)).compose(row -> {
        if (row == null) {
          metrics.finished(took, 0, 0, JobRow.PROCESSING); // not ours any more: no detections counted twice
          return Future.succeededFuture();
        }
        metrics.finished(took, total, rows.size(), JobRow.COMPLETED);
        LOG.info("job {} completed: {} image(s), {} detection(s) in {} ms", job.jobId(), rows.size(), total,
            took.toMillis());
        return cache.put(row);
      });
    });
  }

  /**
   * Where the job's inference ran, from its result rows: {@code device} is "cuda" or "cpu" when every image ran
   * there, "mixed" when a CUDA out-of-memory sent some images to CPU; {@code images_by_device} counts them. Rows
   * stored before devices were recorded count for nothing; with none known, both are left out.
   */
  static void deviceSummary(List<JobRepository.ResultRow> rows, JsonObject summary) {
    java.util.TreeMap<String, Integer> byDevice = new java.util.TreeMap<>();
    for (JobRepository.ResultRow r : rows) {
      if (r.device() != null) {
        byDevice.merge(r.device(), 1, Integer::sum);
      }
    }
    if (byDevice.isEmpty()) {
      return;
    }
    summary.put("device", byDevice.size() == 1 ? byDevice.firstKey() : "mixed")
        .put("images_by_device", new JsonObject(new java.util.LinkedHashMap<>(byDevice)));
  }

  /** Thrown when an image kept failing after every retry. */
  static final class RetriesExhausted extends Exception {
    RetriesExhausted(String filename, int attempts, Throwable last) {
      super("image " + filename + " failed " + attempts + " times; last error: " + last.getMessage(), last);
    }
  }

  private Future<Void> failure(String jobId, Throwable e) {
    JsonObject error;
    if (e instanceof InferenceException ie) {
      error = error(ie.code().name(), switch (ie.code()) {
        case MODEL_LOAD_ERROR -> "Failed to load YOLO model";
        case FILE_NOT_FOUND -> "Image file not found";
        case CORRUPTED_FILE -> "Unable to read image file";
        case INVALID_DIMENSIONS -> "Image has too many pixels";
        case INVALID_CONFIG -> "Invalid inference configuration";
        case RULES_ERROR -> "Rules stage failed";
        case INFERENCE_ERROR -> "Inference failed";
      }, ie.getMessage());
    } else if (e instanceof RetriesExhausted) {
      error = error("MAX_RETRIES", "Job failed after " + retryAttempts + " attempts", e.getMessage());
    } else {
      // A database or bookkeeping failure: the job is not failed, the message is delivered again.
      return Future.failedFuture(e);
    }
    LOG.warn("job {} failed: {} {}", jobId, error.getString("code"), error.getString("details"));
    return failJob(jobId, error, true);
  }

  private Future<Void> failJob(String jobId, JsonObject error, boolean clean) {
    return jobs.fail(jobId, leasing.workerId(), error).compose(row -> {
      if (row == null) {
        return Future.succeededFuture();
      }
      if (!clean) {
        metrics.jobCounted(JobRow.FAILED);
      }
      Future<Void> cleaned = clean ? jobs.clearResults(jobId).compose(x -> vertx.fileSystem()
          .deleteRecursive(layout.resultsDir(jobId).toString()).otherwiseEmpty()) : Future.succeededFuture();
      return cleaned.compose(x -> cache.put(row));
    });
  }

  static JsonObject error(String code, String message, String details) {
    return new JsonObject().put("code", code).put("message", message).put("details", details);
  }
}
