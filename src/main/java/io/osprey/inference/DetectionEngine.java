package io.osprey.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntPredicate;
import org.bytedeco.opencv.opencv_core.Mat;

/**
 * SAHI-style sliced detection of one model, for one thread at a time (a worker owns one engine per model; the
 * ONNX session underneath is shared). Tiles go to ONNX Runtime in batches (one tile per call for fixed-batch
 * models) on the engine's own large-stack inference thread, while the calling thread letterboxes the next batch
 * into the other of two tensor slots and decodes the previous one, so preparation and decoding overlap inference.
 * Tensors and output buffers are allocated once per engine and reused.
 *
 * <p>On CUDA the engine follows the spec's out-of-memory ladder for each image: a run the GPU has no memory for
 * halves the batch (dynamic-batch models) and the image is run once more; out of memory again, or nothing left to
 * halve, and the image runs on the model's CPU twin. The halved batch is kept for later images (the GPU had no room
 * for the larger one); every image starts on CUDA again. {@link ImageDetections#device()} says where an image ran.
 */
public final class DetectionEngine implements AutoCloseable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DetectionEngine.class);
  private final OnnxModel model;
  /** Tiles the slots hold: the most per call. */
  private final int batchSize;
  /** Tiles per call on CUDA now: {@link #batchSize} until an out-of-memory halves it (written under {@link #busy}). */
  private volatile int cudaBatch;
  private final Slot[] slots = new Slot[2];
  private final TilePreparer preparer;
  private final ImageReader reader = new ImageReader();
  private final ExecutorService infer;
  private final boolean overlap;
  /** Held for the whole of a detect; close takes it, so tensors and Mats are never freed under a running image. */
  private final java.util.concurrent.locks.ReentrantLock busy = new java.util.concurrent.locks.ReentrantLock();
  private boolean closed;

  /** One tensor buffer pair: the input being filled or run, and the output ONNX Runtime writes into. */
  private final class Slot implements AutoCloseable {
    final FloatBuffer input;
    final TilePreparer.Planes[] planes;
    final Map<Integer, OnnxTensor> inputTensors = new HashMap<>();
    final FloatBuffer output;
    final OnnxTensor pinnedOutput;
    /** Output of the last run; written by the inference thread, read after its future completes. */
    volatile FloatBuffer lastOutput;

    Slot() throws OrtException {
      int plane = 3 * model.inputWidth() * model.inputHeight();
      input = direct((long) plane * batchSize);
      planes = new TilePreparer.Planes[batchSize];
      for (int b = 0; b < batchSize; b++) {
        planes[b] = new TilePreparer.Planes(input, b, model.inputWidth(), model.inputHeight());
      }
      if (!model.dynamicBatch()) {
        output = direct((long) model.outputRows() * model.outputCols());
        pinnedOutput = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), output,
            new long[] {1, model.outputRows(), model.outputCols()});
      } else {
        output = null;
        pinnedOutput = null;
      }
    }

    OnnxTensor inputFor(int count) throws OrtException {
      OnnxTensor tensor = inputTensors.get(count);
      if (tensor == null) {
        int plane = 3 * model.inputWidth() * model.inputHeight();
        FloatBuffer view = input.duplicate().position(0).limit(count * plane).slice();
        tensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), view,
            new long[] {count, 3, model.inputHeight(), model.inputWidth()});
        inputTensors.put(count, tensor);
      }
      return tensor;
    }

    @Override
    public void close() {
      inputTensors.values().forEach(OnnxTensor::close);
      if (pinnedOutput != null) {
        pinnedOutput.close();
      }
      for (TilePreparer.Planes p : planes) {
        p.close();
      }
    }
  }

  /**
   * @param maxBatch       most tiles per call for dynamic-batch models
   * @param overlap        prepare and decode on the calling thread while inference runs; worth it only when cores
   *                       outnumber ONNX Runtime's intra-op threads (see {@link #overlapPays})
   */
  public DetectionEngine(OnnxModel model, int maxBatch, boolean overlap) throws InferenceException {
    this.model = model;
    this.overlap = overlap;
    this.batchSize = model.dynamicBatch() ? Math.max(1, maxBatch) : 1;
    this.cudaBatch = batchSize;
    this.preparer = new TilePreparer(model.layout(), model.inputWidth(), model.inputHeight());
    this.infer = Executors.newSingleThreadExecutor(OrtThreads.factory("osprey-infer-" + model.name()));
    try {
      slots[0] = new Slot();
      slots[1] = new Slot();
    } catch (OrtException e) {
      close();
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "cannot allocate tensors for model " + model.name() + ": " + e.getMessage(), e);
    }
  }

  /** True when this machine has a core left over beside ONNX Runtime's intra-op threads. */
  public static boolean overlapPays(int intraOpThreads) {
    return Runtime.getRuntime().availableProcessors() > intraOpThreads;
  }

  public OnnxModel model() {
    return model;
  }

  /** Tiles per model call on the model's own device now (smaller than configured after a CUDA out-of-memory). */
  public int batchSize() {
    return model.device() == OrtRuntime.Device.CUDA ? cudaBatch : batchSize;
  }

  /** Decodes the file with OpenCV (into the engine's reused buffer, {@link ImageReader}) and detects on it. */
  public ImageDetections detect(Path file, DetectionParams params) throws InferenceException {
    long start = System.nanoTime();
    if (!Files.isRegularFile(file)) {
      throw new InferenceException(InferenceException.Code.FILE_NOT_FOUND, "image " + file + " does not exist");
    }
    // Held from the decode on: the reader's buffer is freed by close, like the tensors.
    busy.lock();
    try {
      if (closed) {
        throw new InferenceException(InferenceException.Code.INFERENCE_ERROR,
            "detection engine of model " + model.name() + " is closed (the process is shutting down)");
      }
      Mat image;
      try {
        image = reader.read(file);
      } catch (java.io.IOException e) {
        throw new InferenceException(InferenceException.Code.CORRUPTED_FILE, "image " + file + " cannot be read: "
            + e.getMessage(), e);
      }
      if (image.empty()) {
        throw new InferenceException(InferenceException.Code.CORRUPTED_FILE, "image " + file
            + " cannot be decoded");
      }
      long decoded = System.nanoTime() - start;
      ImageDetections r = detectUnlocked(image, params);
      return new ImageDetections(r.width(), r.height(), r.detections(), r.tiles(), r.modelCalls(), decoded,
          r.inferenceNanos(), System.nanoTime() - start, r.device());
    } finally {
      reader.trim();
      busy.unlock();
    }
  }

  /** Detects on a decoded BGR image (8-bit, 3 channels). Refused cleanly once the engine is closed. */
  public ImageDetections detect(Mat image, DetectionParams params) throws InferenceException {
    busy.lock();
    try {
      if (closed) {
        throw new InferenceException(InferenceException.Code.INFERENCE_ERROR,
            "detection engine of model " + model.name() + " is closed (the process is shutting down)");
      }
      return detectUnlocked(image, params);
    } finally {
      busy.unlock();
    }
  }

  /** The out-of-memory ladder around one image (see the class comment). */
  private ImageDetections detectUnlocked(Mat image, DetectionParams params) throws InferenceException {
    if (model.device() != OrtRuntime.Device.CUDA) {
      return pass(image, params, model, batchSize);
    }
    try {
      return pass(image, params, model, cudaBatch);
    } catch (InferenceException e) {
      if (!outOfMemory(e)) {
        throw e;
      }
      if (cudaBatch > 1) {
        int halved = cudaBatch / 2;
        LOG.warn("model {}: CUDA out of memory at batch {}; running the image again at batch {}", model.name(),
            cudaBatch, halved);
        cudaBatch = halved;
        try {
          return pass(image, params, model, cudaBatch);
        } catch (InferenceException again) {
          if (!outOfMemory(again)) {
            throw again;
          }
          LOG.warn("model {}: CUDA out of memory again at batch {}; this image runs on CPU", model.name(),
              cudaBatch);
        }
      } else {
        LOG.warn("model {}: CUDA out of memory at batch 1 (nothing to halve); this image runs on CPU",
            model.name());
      }
    }
    OnnxModel cpu;
    try {
      cpu = model.cpu();
    } catch (InferenceException | OnnxModel.ClosedException e) {
      throw new InferenceException(InferenceException.Code.INFERENCE_ERROR,
          "model " + model.name() + ": no CPU session after a CUDA out-of-memory: " + e.getMessage(), e);
    }
    return pass(image, params, cpu, batchSize);
  }

  /** True when a run failed because the GPU had no memory for it. */
  private static boolean outOfMemory(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SessionBackend.DeviceOutOfMemoryException) {
        return true;
      }
    }
    return false;
  }

  /** Every tile of the image through {@code target} (the model, or its CPU twin), {@code batch} tiles a call. */
  private ImageDetections pass(Mat image, DetectionParams params, OnnxModel target, int batch)
      throws InferenceException {
    long start = System.nanoTime();
    int width = image.cols();
    int height = image.rows();
    List<Slicing.Window> windows = windows(width, height, params);
    IntPredicate allowed = ClassFilter.of(params.includeClasses(), params.excludeClasses(), model.classNames());
    List<Detection> all = new ArrayList<>();
    long inference = 0;
    int calls = 0;
    Future<Long> running = null;
    try (TilePreparer.Source source = preparer.source(image)) {
      List<List<Slicing.Window>> groups = new ArrayList<>();
      for (int i = 0; i < windows.size(); i += batch) {
        groups.add(windows.subList(i, Math.min(windows.size(), i + batch)));
      }
      // With cores to spare, the caller letterboxes group g+1 and decodes group g while the inference thread runs
      // the other slot. When ONNX Runtime's threads already take every core, that concurrent work would stall its
      // parallel kernels (one descheduled thread delays the whole operator), so the steps run one after another.
      Letterbox[][] boxes = new Letterbox[groups.size()][];
      boxes[0] = prepareGroup(source, groups.get(0), slots[0]);
      running = infer.submit(() -> run(target, slots[0], groups.get(0).size()));
      for (int g = 0; g < groups.size(); g++) {
        boolean more = g + 1 < groups.size();
        if (overlap && more) {
          boxes[g + 1] = prepareGroup(source, groups.get(g + 1), slots[(g + 1) % 2]);
        }
        inference += running.get();
        calls++;
        FloatBuffer out = slots[g % 2].lastOutput;
        if (overlap && more) {
          running = submitRun(target, groups, g + 1);
        }
        decodeGroup(groups.get(g), boxes[g], out, params, allowed, width, height, all);
        if (!overlap && more) {
          boxes[g + 1] = prepareGroup(source, groups.get(g + 1), slots[(g + 1) % 2]);
          running = submitRun(target, groups, g + 1);
        }
      }
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw new InferenceException(InferenceException.Code.INFERENCE_ERROR,
          "ONNX Runtime failed on model " + model.name() + " (" + target.device() + "): " + cause.getMessage(),
          cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InferenceException(InferenceException.Code.INFERENCE_ERROR, "interrupted", e);
    } finally {
      awaitQuietly(running);
    }
    List<Detection> result;
    if (windows.size() > 1) {
      result = Merging.merge(all, params.postprocessType(), params.matchMetric(), params.matchThreshold(),
          params.classAgnostic());
    } else {
      result = new ArrayList<>(all);
      result.sort(Comparator.comparingDouble((Detection d) -> d.score()).reversed());
    }
    return new ImageDetections(width, height, List.copyOf(result), windows.size(), calls, 0, inference,
        System.nanoTime() - start, target.device());
  }

  private Future<Long> submitRun(OnnxModel target, List<List<Slicing.Window>> groups, int g) {
    return infer.submit(() -> run(target, slots[g % 2], groups.get(g).size()));
  }

  private void decodeGroup(List<Slicing.Window> group, Letterbox[] boxes, FloatBuffer out, DetectionParams params,
                           IntPredicate allowed, int width, int height, List<Detection> into) {
    int perImage = model.outputRows() * model.outputCols();
    for (int k = 0; k < group.size(); k++) {
      List<Detection> tile = TensorDecoder.decode(model.layout(), out, k * perImage, model.outputRows(),
          model.outputCols(), boxes[k], params.confidence(), allowed, model.classNames());
      if (!model.layout().selectsItself() && tile.size() > 1) {
        tile = Merging.merge(tile, MergeType.NMS, MatchMetric.IOU, params.modelNmsIou(), false);
      }
      Slicing.Window w = group.get(k);
      for (Detection d : tile) {
        Detection placed = Boxes.clip(Boxes.shift(d, w.x1(), w.y1()), width, height);
        if (placed != null && placed.area() >= params.minBoxArea()) {
          into.add(placed);
        }
      }
    }
  }

  /** SAHI's windows: slices (auto-sized when not given), then the whole image when asked and there are several. */
  public static List<Slicing.Window> windows(int width, int height, DetectionParams params) {
    Slicing.Params p = params.sliceWidth() == null || params.sliceHeight() == null
        ? Slicing.auto(width, height)
        : Slicing.fromRatios(params.sliceWidth(), params.sliceHeight(), params.overlapWidthRatio(),
            params.overlapHeightRatio());
    List<Slicing.Window> windows = new ArrayList<>(Slicing.grid(width, height, p));
    if (params.performStandardPred() && windows.size() > 1) {
      windows.add(new Slicing.Window(0, 0, width, height));
    }
    return windows;
  }

  private Letterbox[] prepareGroup(TilePreparer.Source source, List<Slicing.Window> group, Slot slot) {
    Letterbox[] boxes = new Letterbox[group.size()];
    for (int k = 0; k < group.size(); k++) {
      boxes[k] = source.prepare(group.get(k), slot.planes[k]);
    }
    return boxes;
  }

  /** Runs one group on the inference thread; leaves the output in {@code slot.lastOutput}; returns run nanos. */
  private long run(OnnxModel target, Slot slot, int count) throws OrtException {
    // The use keeps the model's session open for this call; once the model is closing it is refused here, so the
    // image stops at its next batch instead of running on a session about to be freed.
    try (OnnxModel.Use use = target.use()) {
      return runIn(use, slot, count);
    }
  }

  private long runIn(OnnxModel.Use use, Slot slot, int count) throws OrtException {
    Map<String, OnnxTensor> inputs = Map.of(model.inputName(), slot.inputFor(count));
    long start = System.nanoTime();
    if (slot.pinnedOutput != null) {
      // Outputs land in the slot's own buffer: no per-tile copy of the (often multi-megabyte) output tensor.
      try (OrtSession.Result ignored = use.run(inputs, Set.of(),
          Map.<String, OnnxValue>of(model.outputName(), slot.pinnedOutput))) {
        slot.lastOutput = slot.output;
      }
    } else {
      try (OrtSession.Result result = use.run(inputs, Set.of(model.outputName()), Map.of())) {
        slot.lastOutput = ((OnnxTensor) result.get(model.outputName()).orElseThrow()).getFloatBuffer();
      }
    }
    return System.nanoTime() - start;
  }

  /**
   * After a failure, lets an inference still in flight finish before its slots are reused or freed. Interrupts do
   * not cut this wait short (they are kept for the caller): returning while ONNX Runtime still reads the slot's
   * tensors would let a close free them under it.
   */
  private static void awaitQuietly(Future<Long> running) {
    if (running == null) {
      return;
    }
    boolean interrupted = false;
    while (!running.isDone()) {
      try {
        running.get();
      } catch (InterruptedException e) {
        interrupted = true;
      } catch (ExecutionException | java.util.concurrent.CancellationException ignored) {
        // the failure that matters is already being reported
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private static FloatBuffer direct(long floats) {
    return ByteBuffer.allocateDirect(Math.toIntExact(floats * 4)).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  /** {@link #close(java.time.Duration)} with 30 s for a detect in progress. */
  @Override
  public void close() {
    close(java.time.Duration.ofSeconds(30));
  }

  /**
   * Frees tensors and Mats once no detect runs (waiting up to {@code grace} for one in progress, and for its
   * inference thread to end). When the wait runs out nothing is freed and false is returned: a leak at exit is
   * harmless, a free under a running inference crashes the JVM.
   */
  public boolean close(java.time.Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    try {
      if (!busy.tryLock(grace.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS)) {
        infer.shutdown();
        return false;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      infer.shutdown();
      return false;
    }
    try {
      if (closed) {
        return true;
      }
      closed = true;
      infer.shutdown();
      if (!infer.awaitTermination(Math.max(0, deadline - System.nanoTime()),
          java.util.concurrent.TimeUnit.NANOSECONDS)) {
        return false;
      }
      for (Slot s : slots) {
        if (s != null) {
          s.close();
        }
      }
      preparer.close();
      reader.close();
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } finally {
      busy.unlock();
    }
  }
}
