package io.osprey.jobs;

import io.osprey.bus.Bus;
import io.osprey.inference.InferenceException;
import io.osprey.inference.ModelRegistry;
import io.osprey.pipeline.ImagePipeline;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker verticle (deployed {@code jobs.worker_instances} times) that runs job images through its own
 * {@link ImagePipeline}, one at a time, on the inference worker pool: decoding, sliced inference, rules and result
 * files are blocking CPU (or GPU) work, kept off every event loop. Instance {@code n} consumes
 * {@link Bus#pipelineWorker(int) osprey.pipeline.image.n}; the {@link JobRunnerVerticle} sends an image only to an
 * instance that is free. The runner keeps the job's bookkeeping (leases, progress, retries, results rows) on its
 * event loop, so a lease is renewed while an image runs here.
 *
 * <p>Stopping: an undeploy comes after the runner drained (no image in flight), and the engines are freed only
 * once no image runs on them; the model sessions are closed later still, by the process.
 */
public final class PipelineWorkerVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(PipelineWorkerVerticle.class);

  private final int instance;
  private final ModelRegistry models;
  private final ImagePipeline pipeline;
  /** The last job config parsed, by identity: the runner passes a job's stored config object with every image. */
  private JsonObject lastConfigJson;
  private JobConfig lastConfig;

  public PipelineWorkerVerticle(int instance, ModelRegistry models, ImagePipeline pipeline) {
    this.instance = instance;
    this.models = models;
    this.pipeline = pipeline;
  }

  /**
   * Deploys {@code instances} pipeline workers (instance n on {@link Bus#pipelineWorker(int) osprey.pipeline.image.n}),
   * each with a pipeline of its own (and registers the codecs of the pipeline records), as worker verticles on a pool of their own, "osprey-inference", with one thread
   * per instance: an image may take minutes (no blocked-thread warnings for it), and other blocking work never waits
   * behind inference.
   */
  public static Future<String> deploy(Vertx vertx, int instances, ModelRegistry models,
                                      Supplier<ImagePipeline> pipelines) {
    Bus.registerPipelineCodecs(vertx.eventBus());
    AtomicInteger next = new AtomicInteger();
    return vertx.deployVerticle(() -> new PipelineWorkerVerticle(next.getAndIncrement(), models, pipelines.get()),
        new DeploymentOptions()
            .setThreadingModel(ThreadingModel.WORKER)
            .setInstances(instances)
            .setWorkerPoolName("osprey-inference")
            .setWorkerPoolSize(instances)
            .setMaxWorkerExecuteTime(24)
            .setMaxWorkerExecuteTimeUnit(TimeUnit.HOURS));
  }

  @Override
  public Future<?> start() {
    return vertx.eventBus().<Bus.ProcessImage>localConsumer(Bus.pipelineWorker(instance), this::onImage)
        .completion();
  }

  /** Blocking: runs on this verticle's worker thread, one image at a time. */
  private void onImage(Message<Bus.ProcessImage> message) {
    Bus.ProcessImage request = message.body();
    Bus.ImageReply reply;
    try {
      JobConfig config = config(request.config());
      JobConfig.Symbolic symbolic = config.symbolic();
      ImagePipeline.Result result = pipeline.process(models.get(config.model()), new ImagePipeline.Request(
          request.jobId(), request.fileId(), Path.of(request.imagePath()), request.fileName(), config.params(),
          symbolic.enabled() ? new ImagePipeline.Rules(symbolic.ruleSet(), symbolic.metadataFor(request.fileId()),
              symbolic.params().getMap()) : null,
          config.visualization(), config.annotations().create()));
      reply = new Bus.ImageProcessed(result.detections(), result.meanConfidence(), result.annotated(),
          result.width(), result.height(), result.device(), result.boxes().stream()
          .map(b -> new Bus.Box(b.classId(), b.className(), b.centerX(), b.centerY(), b.width(), b.height(),
              b.confidence()))
          .toList());
    } catch (InferenceException e) {
      reply = new Bus.ImageFailed(e.code().name(), e.getMessage());
    } catch (IllegalArgumentException e) {
      // Parameters the engine cannot work with (the stored config passed validation): retrying cannot help.
      reply = new Bus.ImageFailed(InferenceException.Code.INVALID_CONFIG.name(), e.getMessage());
    } catch (Throwable e) {
      // Storage, a closing model, anything else: the runner retries, or hands the job back when stopping. Always
      // answered, so the runner never waits on an image that ended.
      LOG.debug("job {}: image {} failed on pipeline worker {}", request.jobId(), request.fileName(), instance, e);
      reply = new Bus.ImageFailed(null, e.getMessage() == null ? e.toString() : e.getMessage());
    }
    message.reply(reply);
  }

  private JobConfig config(JsonObject json) {
    if (json != lastConfigJson) {
      // Validated at predict time; parsing again only builds the engine's parameters.
      lastConfig = JobConfig.parse(json, new ArrayList<>());
      lastConfigJson = json;
    }
    return lastConfig;
  }

  @Override
  public Future<?> stop() {
    // On this verticle's worker thread, after any image in progress: the wait for an engine is bounded.
    pipeline.close(Duration.ofSeconds(10));
    return Future.succeededFuture();
  }
}
