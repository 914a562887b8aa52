package io.osprey.inference;

import io.osprey.testing.IntegrationTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import io.osprey.testing.DynamicBatch;
import io.osprey.testing.FailingGpu;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Models;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The spec's recovery ladder with failures injected where a GPU raises them ({@link FailingGpu}), on real models and
 * a real aerial image: a model that cannot be loaded on CUDA is loaded on CPU and says so; a run the GPU has no
 * memory for halves the batch and runs the image once more; out of memory again (or nothing to halve) and the image
 * runs on CPU. The detections are always those of a plain CPU run.
 */
@IntegrationTest
class RecoveryLadderTest {
  /** 320 px slices: small-vehicles1.jpeg gives more tiles than one batch of 8. */
  private static final DetectionParams SLICED = DetectionParams.defaults().withSlices(320, 320, 0.2, 0.2);
  private static Path image;
  private static Path dynamicDir;
  private static String dynamicModel;

  @BeforeAll
  static void models() throws Exception {
    Models.registry(); // natives configured once for the test JVM
    image = Fixtures.imagesDir().resolve("small-vehicles1.jpeg");
    dynamicDir = Files.createTempDirectory("osprey-ladder-models-");
    // Every shared model has batch 1; the FP32 YOLOX with a symbolic batch lets the engine batch tiles.
    dynamicModel = DynamicBatch.write("yolox_nano", dynamicDir);
  }

  @org.junit.jupiter.api.AfterAll
  static void removeModels() throws Exception {
    if (dynamicDir != null) {
      deleteTree(dynamicDir);
    }
  }

  private static void deleteTree(Path dir) throws java.io.IOException {
    try (var files = Files.walk(dir)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static ModelRegistry onGpu(FailingGpu gpu, Path dir, OrtRuntime.Device device) throws Exception {
    return new ModelRegistry(new OrtRuntime(device, 2, 1, gpu), dir, "yolov8n_int8");
  }

  private static ModelRegistry onCpu(Path dir) throws Exception {
    return new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 2, 1), dir, "yolov8n_int8");
  }

  private static final java.util.Map<String, List<Detection>> REFERENCES = new java.util.HashMap<>();

  /** A plain CPU run of the model with the given batch: what every rung of the ladder must return. */
  private static List<Detection> plainCpu(Path dir, String model, int batch) throws Exception {
    String key = model + "@" + batch;
    if (!REFERENCES.containsKey(key)) {
      REFERENCES.put(key, runPlainCpu(dir, model, batch));
    }
    return REFERENCES.get(key);
  }

  private static List<Detection> runPlainCpu(Path dir, String model, int batch) throws Exception {
    try (ModelRegistry cpu = onCpu(dir)) {
      DetectionEngine engine = new DetectionEngine(cpu.get(model), batch, false);
      try {
        ImageDetections r = engine.detect(image, SLICED);
        assertEquals(OrtRuntime.Device.CPU, r.device());
        assertFalse(r.detections().isEmpty(), "the reference run finds something");
        return r.detections();
      } finally {
        engine.close(Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void aModelThatCannotBeLoadedOnCudaIsLoadedOnCpuAndSaysSo() throws Exception {
    for (OrtRuntime.Device configured : List.of(OrtRuntime.Device.AUTO, OrtRuntime.Device.CUDA)) {
      FailingGpu gpu = new FailingGpu();
      gpu.failCudaLoad = true;
      try (ModelRegistry registry = onGpu(gpu, Models.dir(), configured)) {
        OnnxModel model = registry.get("yolov8n_int8");
        assertEquals(OrtRuntime.Device.CPU, model.device(), "inference.device " + configured);
        assertEquals("CPU", model.provider());
        assertEquals(List.of("CUDA", "CPU"), gpu.opens(), "tried CUDA first, then CPU");
        DetectionEngine engine = new DetectionEngine(model, 8, false);
        try {
          ImageDetections r = engine.detect(image, SLICED);
          assertEquals(OrtRuntime.Device.CPU, r.device());
          assertTrue(gpu.runs().stream().allMatch(run -> run.startsWith("CPU:")), gpu.runs().toString());
          assertEquals(plainCpu(Models.dir(), "yolov8n_int8", 8), r.detections());
        } finally {
          engine.close(Duration.ofSeconds(10));
        }
      }
    }
  }

  @Test
  void aModelThatLoadsNowhereStillFailsWithModelLoadError() throws Exception {
    Path dir = Files.createTempDirectory("osprey-ladder-broken-");
    Files.writeString(dir.resolve("broken.onnx"), "not a model");
    FailingGpu gpu = new FailingGpu();
    try (ModelRegistry registry = onGpu(gpu, dir, OrtRuntime.Device.AUTO)) {
      InferenceException e = assertThrows(InferenceException.class, () -> registry.get("broken"));
      assertEquals(InferenceException.Code.MODEL_LOAD_ERROR, e.code());
      assertEquals(List.of("CUDA", "CPU"), gpu.opens());
      assertTrue(e.getMessage().contains("on CUDA before"), e.getMessage());
    } finally {
      deleteTree(dir);
    }
  }

  @Test
  void outOfMemoryHalvesTheBatchAndRunsTheImageOnceMoreOnCuda() throws Exception {
    FailingGpu gpu = new FailingGpu();
    gpu.oomAbove = 4; // the "GPU" holds 4 tiles, not 8
    try (ModelRegistry registry = onGpu(gpu, dynamicDir, OrtRuntime.Device.AUTO)) {
      OnnxModel model = registry.get(dynamicModel);
      assertEquals(OrtRuntime.Device.CUDA, model.device());
      assertTrue(model.dynamicBatch());
      gpu.clear();
      DetectionEngine engine = new DetectionEngine(model, 8, false);
      try {
        assertEquals(8, engine.batchSize());
        ImageDetections r = engine.detect(image, SLICED);
        assertEquals(OrtRuntime.Device.CUDA, r.device(), "the retry at half the batch succeeded on CUDA");
        assertEquals(4, engine.batchSize(), "the halved batch is kept");
        List<String> runs = gpu.runs();
        assertTrue(r.tiles() > 8, "enough tiles for a full batch: " + r.tiles());
        assertEquals("CUDA:8", runs.get(0), "the first batch of 8 ran out of memory");
        List<String> retry = runs.subList(1, runs.size());
        assertEquals((r.tiles() + 3) / 4, retry.size(), "the image ran once more, 4 tiles a call: " + runs);
        assertTrue(retry.stream().allMatch(run -> run.startsWith("CUDA:")
            && Integer.parseInt(run.substring(5)) <= 4), runs.toString());
        assertEquals(List.of(), gpu.opens(), "no CPU session was needed");
        assertEquals(plainCpu(dynamicDir, dynamicModel, 4), r.detections());
        assertSame(plainCpu(dynamicDir, dynamicModel, 8), r.detections());
      } finally {
        engine.close(Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void aSecondOutOfMemoryRunsTheImageOnCpuAndTheNextImageTriesCudaAgain() throws Exception {
    FailingGpu gpu = new FailingGpu();
    try (ModelRegistry registry = onGpu(gpu, dynamicDir, OrtRuntime.Device.AUTO)) {
      OnnxModel model = registry.get(dynamicModel);
      assertEquals(OrtRuntime.Device.CUDA, model.device());
      gpu.clear();
      gpu.oomAbove = 0; // from now on the GPU has no room for anything
      DetectionEngine engine = new DetectionEngine(model, 8, false);
      try {
        ImageDetections r = engine.detect(image, SLICED);
        assertEquals(OrtRuntime.Device.CPU, r.device());
        List<String> runs = gpu.runs();
        assertEquals(List.of("CUDA:8", "CUDA:4", "CPU:1"), runs.subList(0, 3),
            "8 out of memory, then 4 once, then the CPU twin's warm-up: " + runs);
        List<String> onCpu = runs.subList(3, runs.size());
        assertTrue(onCpu.stream().allMatch(run -> run.startsWith("CPU:")), runs.toString());
        assertEquals((r.tiles() + 7) / 8, onCpu.size(), "on CPU the full batch of 8: " + runs);
        assertEquals(List.of("CPU"), gpu.opens(), "the model's CPU twin was opened");
        List<Detection> reference = plainCpu(dynamicDir, dynamicModel, 8);
        assertEquals(reference, r.detections());

        gpu.oomAbove = Integer.MAX_VALUE; // memory is back
        gpu.clear();
        ImageDetections next = engine.detect(image, SLICED);
        assertEquals(OrtRuntime.Device.CUDA, next.device(), "each image starts on CUDA again");
        assertTrue(gpu.runs().stream().allMatch(run -> run.equals("CUDA:4")
            || run.startsWith("CUDA:") && Integer.parseInt(run.substring(5)) < 4), gpu.runs().toString());
        assertEquals(List.of(), gpu.opens(), "the CPU twin is kept, not opened again");
        assertSame(reference, next.detections());
      } finally {
        engine.close(Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void aFixedBatchModelOutOfMemoryGoesStraightToCpu() throws Exception {
    FailingGpu gpu = new FailingGpu();
    try (ModelRegistry registry = onGpu(gpu, Models.dir(), OrtRuntime.Device.AUTO)) {
      OnnxModel model = registry.get("yolov8n_int8");
      assertEquals(OrtRuntime.Device.CUDA, model.device());
      assertFalse(model.dynamicBatch());
      gpu.clear();
      gpu.oomAbove = 0;
      DetectionEngine engine = new DetectionEngine(model, 8, false);
      try {
        ImageDetections r = engine.detect(image, SLICED);
        assertEquals(OrtRuntime.Device.CPU, r.device());
        List<String> runs = gpu.runs();
        assertEquals("CUDA:1", runs.get(0));
        // Then the CPU twin's warm-up and every tile on it: no second CUDA attempt, batch 1 cannot be halved.
        assertEquals(1 + r.tiles(), runs.size() - 1, runs.toString());
        assertTrue(runs.subList(1, runs.size()).stream().allMatch("CPU:1"::equals), runs.toString());
        assertEquals(List.of("CPU"), gpu.opens(), "the model's CPU twin was opened");
        assertEquals(plainCpu(Models.dir(), "yolov8n_int8", 8), r.detections());
      } finally {
        engine.close(Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void otherCudaFailuresAreNotSentDownTheLadder() throws Exception {
    FailingGpu gpu = new FailingGpu();
    try (ModelRegistry registry = onGpu(gpu, Models.dir(), OrtRuntime.Device.AUTO)) {
      OnnxModel model = registry.get("yolov8n_int8");
      gpu.clear();
      gpu.failCudaRuns = true;
      DetectionEngine engine = new DetectionEngine(model, 8, false);
      try {
        InferenceException e = assertThrows(InferenceException.class, () -> engine.detect(image, SLICED));
        assertEquals(InferenceException.Code.INFERENCE_ERROR, e.code(), "retried by the job runner, not here");
        assertEquals(List.of("CUDA:1"), gpu.runs());
        assertEquals(List.of(), gpu.opens());
      } finally {
        engine.close(Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void onnxRuntimeCudaAllocationFailuresAreRecognisedWhateverTheLibrarySays() {
    assertTrue(SessionBackend.cudaOutOfMemory(new OrtException(
        "CUDA failure 2: out of memory ; GPU=0 ; hostname=x ; expr=cudaMalloc((void**)&p, size);")));
    assertTrue(SessionBackend.cudaOutOfMemory(new OrtException("CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED")));
    assertTrue(SessionBackend.cudaOutOfMemory(new OrtException(
        "Failed to allocate memory for requested buffer of size 1073741824 (CUDA)")));
    assertFalse(SessionBackend.cudaOutOfMemory(new OrtException("Got invalid dimensions for input: images")));
    assertFalse(SessionBackend.cudaOutOfMemory(new OrtException("out of memory")), "a CPU allocation failure");
  }

  /**
   * The same objects within float noise: batching FP32 tiles differently may move a box by a hair, never more. Each
   * box must match one of the other list with the same class, IoU >= 0.99 and a score within 0.001.
   */
  private static void assertSame(List<Detection> expected, List<Detection> actual) {
    assertEquals(expected.size(), actual.size(), "same number of detections");
    for (Detection e : expected) {
      boolean found = actual.stream().anyMatch(a -> a.classId() == e.classId()
          && Math.abs(a.score() - e.score()) <= 1e-3 && Boxes.iou(a, e) >= 0.99);
      assertTrue(found, "no match for " + e + " in " + actual);
    }
  }
}
