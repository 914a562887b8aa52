package io.osprey.bench;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.osprey.inference.DetectionEngine;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.ImageDetections;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OnnxModel;
import io.osprey.inference.OrtRuntime;
import io.osprey.inference.Slicing;
import io.osprey.inference.TilePreparer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.opencv.opencv_core.Mat;

/**
 * Engine overhead against the raw ONNX Runtime floor, on the same tiles in one run:
 * <ul>
 *   <li>raw: {@code session.run} alone on tensors prepared beforehand (the floor);</li>
 *   <li>engine: {@code DetectionEngine.detect(file)} end to end (decode, slicing, tensor fill, inference, decoding,
 *       per-tile NMS, merging), divided by the number of tiles.</li>
 * </ul>
 * Rounds alternate raw and engine so machine noise hits both alike. "cpu ratio" is the engine's process CPU time
 * over raw's (all threads), which other processes on the machine do not inflate. Optional soak: N tiles through the
 * engine, printing resident memory and JavaCPP's native byte count at the start and end.
 *
 * <p>Usage: {@code scripts/bench-inference.sh [--models a,b] [--images x,y] [--rounds N] [--threads T]
 * [--soak TILES]}
 */
public final class EngineBenchmark {
  public static void main(String[] args) throws Exception {
    List<String> models = List.of("yolov8n_int8", "yolox_nano");
    List<String> images = List.of("terrain1.jpg", "small-vehicles1.jpeg");
    int rounds = 5;
    int threads = Runtime.getRuntime().availableProcessors();
    int soak = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--models" -> models = List.of(args[++i].split(","));
        case "--images" -> images = List.of(args[++i].split(","));
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        case "--soak" -> soak = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Path shared = Path.of(System.getenv().getOrDefault("OSPREY_SHARED", "../shared"));
    NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.AUTO, threads, 1),
        shared.resolve("models"), models.get(0));
    System.out.printf("machine: %d cores, %s %s, java %s; ONNX Runtime intra-op threads %d, rounds %d%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
        System.getProperty("java.version"), threads, rounds);
    System.out.printf("%-14s %-22s %5s %5s %-10s %12s %12s %8s %9s%n", "model", "image", "tiles", "batch", "prep",
        "raw ms/tile", "engine ms/t", "overhead", "cpu ratio");
    for (String modelName : models) {
      OnnxModel model = registry.get(modelName);
      for (String imageName : images) {
        Path image = shared.resolve("data/images").resolve(imageName);
        for (boolean overlap : new boolean[] {false, true}) {
          try (DetectionEngine engine = new DetectionEngine(model, 8, overlap)) {
            measure(model, engine, image, rounds, overlap);
          }
        }
      }
    }
    if (soak > 0) {
      soak(registry.get(models.get(models.size() - 1)), shared.resolve("data/images").resolve(images.get(0)), soak);
    }
    registry.close();
  }

  private static void measure(OnnxModel model, DetectionEngine engine, Path image, int rounds, boolean overlap)
      throws Exception {
    DetectionParams params = DetectionParams.defaults();
    Mat decoded = imread(image.toString(), IMREAD_COLOR);
    List<Slicing.Window> windows = DetectionEngine.windows(decoded.cols(), decoded.rows(), params);
    int plane = 3 * model.inputWidth() * model.inputHeight();
    List<OnnxTensor> inputs = new ArrayList<>();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (TilePreparer preparer = new TilePreparer(model.layout(), model.inputWidth(), model.inputHeight())) {
      for (Slicing.Window w : windows) {
        FloatBuffer buffer = ByteBuffer.allocateDirect(plane * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        try (TilePreparer.Planes planes = new TilePreparer.Planes(buffer, 0, model.inputWidth(),
            model.inputHeight())) {
          preparer.prepare(decoded, w, planes);
        }
        inputs.add(OnnxTensor.createTensor(env, buffer, new long[] {1, 3, model.inputHeight(), model.inputWidth()}));
      }
    }
    decoded.close();
    FloatBuffer out = ByteBuffer.allocateDirect(model.outputRows() * model.outputCols() * 4)
        .order(ByteOrder.nativeOrder()).asFloatBuffer();
    OnnxTensor pinned = OnnxTensor.createTensor(env, out, new long[] {1, model.outputRows(), model.outputCols()});

    engine.detect(image, params); // warm caches and the prep thread
    long rawNanos = 0;
    long engineNanos = 0;
    long rawCpu = 0;
    long engineCpu = 0;
    long engineInference = 0;
    long engineDecode = 0;
    int tiles = 0;
    for (int r = 0; r < rounds; r++) {
      long c0 = processCpu();
      long t0 = System.nanoTime();
      for (OnnxTensor input : inputs) {
        try (OrtSession.Result ignored = model.session().run(Map.of(model.inputName(), input), Set.of(),
            Map.<String, OnnxValue>of(model.outputName(), pinned))) {
          // floor: inference alone
        }
      }
      rawNanos += System.nanoTime() - t0;
      long c1 = processCpu();
      rawCpu += c1 - c0;
      long t1 = System.nanoTime();
      ImageDetections result = engine.detect(image, params);
      engineNanos += System.nanoTime() - t1;
      engineCpu += processCpu() - c1;
      engineInference += result.inferenceNanos();
      engineDecode += result.decodeNanos();
      tiles += result.tiles();
    }
    inputs.forEach(OnnxTensor::close);
    pinned.close();
    double raw = rawNanos / 1e6 / (rounds * windows.size());
    double eng = engineNanos / 1e6 / tiles;
    System.out.printf("%-14s %-22s %5d %5d %-10s %12.2f %12.2f %7.1f%% %9.3f   (in engine: run %.2f, file decode"
            + " %.2f ms/tile)%n", model.name(), image.getFileName(), windows.size(), engine.batchSize(),
        overlap ? "overlapped" : "in turn", raw, eng, 100 * (eng / raw - 1), (double) engineCpu / rawCpu,
        engineInference / 1e6 / tiles, engineDecode / 1e6 / tiles);
  }

  /**
   * CPU time of the whole process (all threads: ONNX Runtime's, the engine's): unlike wall time it does not grow
   * when other processes take the cores, so engine/raw in CPU is the steadier figure on a shared machine.
   */
  private static long processCpu() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static void soak(OnnxModel model, Path image, int tiles) throws Exception {
    DetectionParams params = DetectionParams.defaults().withSlices(256, 256, 0.2, 0.2);
    try (DetectionEngine engine = new DetectionEngine(model, 8, false)) {
      ImageDetections first = engine.detect(image, params);
      System.gc();
      long rss0 = Pointer.physicalBytes();
      long native0 = Pointer.totalBytes();
      int done = first.tiles();
      long start = System.nanoTime();
      while (done < tiles) {
        done += engine.detect(image, params).tiles();
      }
      System.gc();
      System.out.printf("soak: %s, %d tiles in %.1f s; resident %d MB -> %d MB; JavaCPP native %d KB -> %d KB%n",
          model.name(), done, (System.nanoTime() - start) / 1e9, rss0 >> 20, Pointer.physicalBytes() >> 20,
          native0 >> 10, Pointer.totalBytes() >> 10);
    }
  }
}
