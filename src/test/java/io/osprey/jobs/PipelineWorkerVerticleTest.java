package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.bus.Bus;
import io.osprey.imaging.ImageBudget;
import io.osprey.inference.ModelRegistry;
import io.osprey.pipeline.ImagePipeline;
import io.osprey.pipeline.ResultWriter;
import io.osprey.rules.RuleSets;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipeline workers as the runner reaches them: jobs.worker_instances worker verticles, each on its own local
 * address, answering with by-reference records. No server, queue or database.
 */
@IntegrationTest
class PipelineWorkerVerticleTest {
  @TempDir
  Path storage;
  private Vertx vertx;
  private StorageLayout layout;

  @BeforeEach
  void setUp() throws Exception {
    ModelRegistry models = Models.registry();
    models.get("yolov8n_int8");
    layout = new StorageLayout(storage);
    vertx = Vertx.vertx();
    RulesStage rules = new RulesStage(new RuleSets(Path.of("conf", "rules")), 2000);
    ResultWriter writer = new ResultWriter(layout, 128, 85);
    PipelineWorkerVerticle.deploy(vertx, 2, models, () -> new ImagePipeline(rules, writer,
        new ImageBudget(100_000_000L, 200_000_000L), 8, false)).await(60, TimeUnit.SECONDS);
  }

  @AfterEach
  void tearDown() throws Exception {
    vertx.close().await(60, TimeUnit.SECONDS);
  }

  private Future<Bus.ImageReply> send(int worker, String jobId, Path image, JsonObject config) {
    return vertx.eventBus().<Bus.ImageReply>request(Bus.pipelineWorker(worker), new Bus.ProcessImage(jobId,
        "file-1", image.toString(), image.getFileName().toString(), config)).map(Message::body);
  }

  @Test
  void eachInstanceAnswersOnItsOwnAddressWithTheImagesResultsAndBoxes() throws Exception {
    Path bus = Fixtures.imagesDir().resolve("bus.jpg");
    JsonObject config = new JsonObject().put("model", "yolov8n_int8").put("visualization", true)
        .put("create_annotations", true);
    // Both instances at once: two images in flight, each on its own worker.
    List<Bus.ImageReply> replies = Future.all(send(0, "job-0", bus, config), send(1, "job-1", bus, config))
        .await(120, TimeUnit.SECONDS).list();
    for (int i = 0; i < 2; i++) {
      Bus.ImageProcessed done = assertInstanceOf(Bus.ImageProcessed.class, replies.get(i));
      assertTrue(done.detections() > 0);
      assertEquals(done.detections(), done.boxes().size(), "create_annotations: the boxes come back");
      assertEquals("cpu", done.device());
      assertTrue(done.annotated());
      assertTrue(Files.exists(layout.annotated("job-" + i, "file-1")));
    }
    assertEquals(replies.get(0), replies.get(1), "the same image gives the same results on either worker");
  }

  @Test
  void aFailureComesBackAsARecordWithTheJobErrorCode() throws Exception {
    JsonObject config = new JsonObject().put("model", "yolov8n_int8");
    Bus.ImageFailed missing = assertInstanceOf(Bus.ImageFailed.class,
        send(0, "job-m", storage.resolve("gone.jpg"), config).await(60, TimeUnit.SECONDS));
    assertEquals("FILE_NOT_FOUND", missing.code());
    Bus.ImageFailed noModel = assertInstanceOf(Bus.ImageFailed.class, send(1, "job-n",
        Fixtures.imagesDir().resolve("bus.jpg"), new JsonObject().put("model", "no_such_model"))
        .await(60, TimeUnit.SECONDS));
    assertEquals("MODEL_LOAD_ERROR", noModel.code());
    assertNotEquals(null, noModel.message());
  }

  @Test
  void aTransientFailureHasNoCodeSoTheRunnerRetriesIt() throws Exception {
    // Results cannot be written (the results folder is a file): a storage error, which a retry may overcome.
    Files.createDirectories(layout.resultsDir("job-s").getParent());
    Files.writeString(layout.resultsDir("job-s"), "not a folder");
    Bus.ImageFailed failed = assertInstanceOf(Bus.ImageFailed.class, send(0, "job-s",
        Fixtures.imagesDir().resolve("bus.jpg"), new JsonObject().put("model", "yolov8n_int8"))
        .await(60, TimeUnit.SECONDS));
    assertNull(failed.code(), failed.message());
  }
}
