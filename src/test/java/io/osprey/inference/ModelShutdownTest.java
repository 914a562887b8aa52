package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Closing models while inference runs (a worker shutting down): the native session is freed only after every run
 * on it returned, and a run asked for after close is refused with an exception before anything native is touched.
 * A failure here is typically not an assertion but a JVM crash (SIGSEGV in libonnxruntime), which surefire reports
 * as a forked VM that died.
 */
@IntegrationTest
class ModelShutdownTest {

  private static ModelRegistry freshRegistry() throws Exception {
    Models.registry(); // natives configured once for the test JVM
    return new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 2, 1), Models.dir(), "yolov8n_int8");
  }

  @Test
  void closeWaitsForTheRunInFlightThenFreesTheSessionAndRefusesLaterRuns() throws Exception {
    ModelRegistry registry = freshRegistry();
    OnnxModel model = registry.get(null);
    OnnxModel.Use use = model.use();
    CompletableFuture<Boolean> closed = CompletableFuture.supplyAsync(() -> registry.close(Duration.ofSeconds(20)));
    // Once closing has begun, close must keep waiting for the held run.
    Await.until("close began", Duration.ofSeconds(5), model::closing);
    Await.holds("close waits while a run holds the session", Duration.ofMillis(400), () -> !closed.isDone());
    assertThrows(OnnxModel.ClosedException.class, model::use, "no new run once closing began");
    // The held run still has a live session: a real inference on it works.
    infer(use.session(), model);
    use.close();
    assertTrue(closed.get(5, TimeUnit.SECONDS), "closed once the run returned");
    assertEquals(0, model.inFlight());
    assertThrows(OnnxModel.ClosedException.class, model::use);
    assertThrows(OnnxModel.ClosedException.class, () -> registry.get(null), "nothing is loaded after close");
    DetectionEngine engine = new DetectionEngine(model, 8, false);
    try {
      InferenceException refused = assertThrows(InferenceException.class, () -> engine.detect(
          Fixtures.imagesDir().resolve("bus.jpg"), DetectionParams.defaults()));
      assertTrue(causedBy(refused, OnnxModel.ClosedException.class), refused.toString());
    } finally {
      assertTrue(engine.close(Duration.ofSeconds(5)));
    }
  }

  @Test
  void closeGivesUpAfterItsGraceWithoutFreeingASessionInUse() throws Exception {
    ModelRegistry registry = freshRegistry();
    OnnxModel model = registry.get("yolo11n_int8_320");
    try (OnnxModel.Use use = model.use()) {
      long start = System.nanoTime();
      assertFalse(model.close(Duration.ofMillis(300)), "a run in flight: not closed");
      assertTrue(System.nanoTime() - start >= 250_000_000L, "waited its grace");
      infer(use.session(), model); // still alive: it was not freed under the run
    }
    assertTrue(model.close(Duration.ofSeconds(1)), "closed once the run ended");
  }

  @Test
  void closingDuringARealSlicedDetectionLetsTheCurrentBatchEndAndStopsTheImageCleanly() throws Exception {
    ModelRegistry registry = freshRegistry();
    OnnxModel model = registry.get(null);
    DetectionEngine engine = new DetectionEngine(model, 8, DetectionEngine.overlapPays(2));
    // 2048x1365 at 256 px slices: about a hundred tiles, seconds of inference.
    DetectionParams params = DetectionParams.defaults().withSlices(256, 256, 0.2, 0.2);
    CompletableFuture<Object> detection = CompletableFuture.supplyAsync(() -> {
      try {
        return engine.detect(Fixtures.imagesDir().resolve("terrain1.jpg"), params);
      } catch (InferenceException e) {
        return e;
      }
    });
    long deadline = System.currentTimeMillis() + 30_000;
    while (model.inFlight() == 0 && !detection.isDone() && System.currentTimeMillis() < deadline) {
      Thread.sleep(5);
    }
    assertFalse(detection.isDone(), "the image was still being detected when the close began");
    assertTrue(registry.close(Duration.ofSeconds(20)), "the batch in flight returned within the grace");
    Object outcome = detection.get(20, TimeUnit.SECONDS);
    assertTrue(outcome instanceof InferenceException e && causedBy(e, OnnxModel.ClosedException.class),
        "the image stops at its next batch with a clean error: " + outcome);
    assertTrue(engine.close(Duration.ofSeconds(5)), "the engine frees its tensors once no detect runs");
  }

  private static void infer(OrtSession session, OnnxModel model) throws Exception {
    int floats = 3 * model.inputWidth() * model.inputHeight();
    FloatBuffer zeros = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    try (OnnxTensor input = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), zeros,
        new long[] {1, 3, model.inputHeight(), model.inputWidth()});
         OrtSession.Result result = session.run(Map.of(model.inputName(), input), Set.of(model.outputName()))) {
      assertTrue(result.get(model.outputName()).isPresent());
    }
  }

  private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (type.isInstance(t)) {
        return true;
      }
    }
    return false;
  }
}
