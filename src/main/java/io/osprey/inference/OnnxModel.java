package io.osprey.inference;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OnnxModelMetadata;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A loaded detector: the ONNX Runtime session (thread-safe, shared by every worker) plus what was learnt from the
 * graph: layout, input size, batch dimension, output to read and class names, and the device it runs on. A model on
 * CUDA can open a CPU twin of itself ({@link #cpu()}) for the runs the GPU has no memory for.
 */
public final class OnnxModel implements AutoCloseable {
  private static final Pattern PY_DICT_ENTRY = Pattern.compile("(\\d+)\\s*:\\s*(['\"])(.*?)\\2");

  private final String name;
  private final Path file;
  private final OrtSession session;
  private final ModelLayout layout;
  private final String inputName;
  private final String outputName;
  private final int inputWidth;
  private final int inputHeight;
  private final boolean dynamicBatch;
  private final int outputRows;
  private final int outputCols;
  private final List<String> classNames;
  private final OrtRuntime.Device device;
  private final SessionBackend backend;
  /** Opens the CPU twin of a CUDA model; null for a model on CPU. */
  private volatile CpuLoader cpuLoader;
  private OnnxModel cpuTwin;

  /** Opens the same model file on CPU (set by whoever loaded the model, as it knows the runtime's options). */
  @FunctionalInterface
  public interface CpuLoader {
    OnnxModel load() throws InferenceException;
  }

  private OnnxModel(String name, Path file, OrtSession session, ModelLayout layout, String inputName,
                    String outputName, int inputWidth, int inputHeight, boolean dynamicBatch, int outputRows,
                    int outputCols, List<String> classNames, OrtRuntime.Device device, SessionBackend backend) {
    this.name = name;
    this.file = file;
    this.session = session;
    this.layout = layout;
    this.inputName = inputName;
    this.outputName = outputName;
    this.inputWidth = inputWidth;
    this.inputHeight = inputHeight;
    this.dynamicBatch = dynamicBatch;
    this.outputRows = outputRows;
    this.outputCols = outputCols;
    this.classNames = classNames;
    this.device = device;
    this.backend = backend;
  }

  /**
   * Loads and inspects a model on {@code device} (CPU or CUDA) through {@code backend}; every failure is a
   * {@code MODEL_LOAD_ERROR} naming the file and the reason.
   */
  public static OnnxModel load(String name, Path file, OrtEnvironment env, OrtSession.SessionOptions options,
                               OrtRuntime.Device device, SessionBackend backend) throws InferenceException {
    if (!Files.isRegularFile(file)) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "model file " + file + " does not exist");
    }
    OrtSession session;
    try {
      session = backend.open(env, file, options, device);
    } catch (OrtException e) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "model file " + file + " cannot be loaded by ONNX Runtime on " + device + ": " + e.getMessage(), e);
    }
    try {
      return inspect(name, file, session, device, backend);
    } catch (InferenceException | RuntimeException e) {
      closeQuietly(session);
      throw e instanceof InferenceException ie ? ie : new InferenceException(
          InferenceException.Code.MODEL_LOAD_ERROR, "model " + file + ": " + e.getMessage(), e);
    } catch (OrtException e) {
      closeQuietly(session);
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "model " + file + ": cannot read its graph: " + e.getMessage(), e);
    }
  }

  private static OnnxModel inspect(String name, Path file, OrtSession session, OrtRuntime.Device device,
                                   SessionBackend backend)
      throws OrtException, InferenceException {
    Map<String, NodeInfo> inputs = session.getInputInfo();
    if (inputs.size() != 1) {
      throw loadError(file, "expected one image input, found " + inputs.keySet());
    }
    Map.Entry<String, NodeInfo> input = inputs.entrySet().iterator().next();
    long[] inShape = shape(input.getValue());
    if (inShape.length != 4 || (inShape[1] != 3 && inShape[1] != -1)) {
      throw loadError(file, "input " + input.getKey() + " is not an NCHW image tensor: "
          + java.util.Arrays.toString(inShape));
    }
    Map<String, String> meta = metadata(session);
    int[] size = inputSize(inShape, meta);
    Map<String, NodeInfo> outputs = session.getOutputInfo();
    String outputName = outputs.containsKey("output") ? "output" : outputs.keySet().iterator().next();
    long[] outShape = shape(outputs.get(outputName));
    if (outShape.length != 3) {
      throw loadError(file, "output " + outputName + " has shape " + java.util.Arrays.toString(outShape)
          + "; expected a detection tensor [batch, a, b]");
    }
    int rows = (int) outShape[1];
    int cols = (int) outShape[2];
    ModelLayout layout = layout(file, rows, cols, size[0], size[1], meta);
    int classes = switch (layout) {
      case YOLOV8 -> rows - 4;
      case YOLOV5, YOLOX -> cols - 5;
      case END2END -> -1;
    };
    List<String> names = classNames(file, meta, classes);
    return new OnnxModel(name, file, session, layout, input.getKey(), outputName, size[0], size[1],
        inShape[0] < 0, rows, cols, names, device, backend);
  }

  /** Recognises the layout from output shape and, for Ultralytics exports, their metadata. */
  static ModelLayout layout(Path file, int rows, int cols, int inputWidth, int inputHeight, Map<String, String> meta)
      throws InferenceException {
    int cells = ModelLayout.gridCells(inputWidth, inputHeight);
    if (cols == 6 && rows > 0 && rows < cells / 4) {
      return ModelLayout.END2END;
    }
    if ("True".equalsIgnoreCase(meta.getOrDefault("end2end", "")) && cols == 6) {
      return ModelLayout.END2END;
    }
    if (rows > 4 && cols == cells && rows < cols) {
      return ModelLayout.YOLOV8;
    }
    if (cols > 5 && rows == 3 * cells) {
      return ModelLayout.YOLOV5;
    }
    if (cols > 5 && rows == cells) {
      return ModelLayout.YOLOX;
    }
    throw loadError(file, "output [1, " + rows + ", " + cols + "] matches no known detector layout"
        + " (yolov8 [1,4+C," + cells + "], yolov5 [1," + 3 * cells + ",5+C], yolox [1," + cells
        + ",5+C], end2end [1,K,6]) for input " + inputWidth + "x" + inputHeight);
  }

  /** {width, height}: from the input shape, else Ultralytics' imgsz metadata, else 640. */
  static int[] inputSize(long[] shape, Map<String, String> meta) {
    int h = (int) shape[2];
    int w = (int) shape[3];
    if (h > 0 && w > 0) {
      return new int[] {w, h};
    }
    Matcher m = Pattern.compile("(\\d+)\\D+(\\d+)").matcher(meta.getOrDefault("imgsz", ""));
    if (m.find()) {
      return new int[] {Integer.parseInt(m.group(2)), Integer.parseInt(m.group(1))};
    }
    return new int[] {640, 640};
  }

  /** Names from Ultralytics metadata ({0: 'person', ...}), else {@code <model>.names}, else a dir names file. */
  static List<String> classNames(Path file, Map<String, String> meta, int classes) throws InferenceException {
    String dict = meta.get("names");
    if (dict != null) {
      TreeMap<Integer, String> byId = new TreeMap<>();
      Matcher m = PY_DICT_ENTRY.matcher(dict);
      while (m.find()) {
        byId.put(Integer.parseInt(m.group(1)), m.group(3));
      }
      if (!byId.isEmpty() && byId.lastKey() == byId.size() - 1) {
        return List.copyOf(byId.values());
      }
    }
    String base = file.getFileName().toString().replaceFirst("\\.onnx$", "");
    Path own = file.resolveSibling(base + ".names");
    try {
      if (Files.isRegularFile(own)) {
        return readNames(own);
      }
      Path dir = file.toAbsolutePath().getParent();
      if (dir != null && classes > 0) {
        try (Stream<Path> files = Files.list(dir)) {
          for (Path candidate : files.filter(p -> p.toString().endsWith(".names")).sorted().toList()) {
            List<String> names = readNames(candidate);
            if (names.size() == classes) {
              return names;
            }
          }
        }
      }
    } catch (IOException e) {
      throw loadError(file, "cannot read class names: " + e.getMessage());
    }
    List<String> generic = new ArrayList<>();
    for (int i = 0; i < Math.max(classes, 0); i++) {
      generic.add("class_" + i);
    }
    return Collections.unmodifiableList(generic);
  }

  private static List<String> readNames(Path file) throws IOException {
    return Files.readAllLines(file).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
  }

  private static Map<String, String> metadata(OrtSession session) throws OrtException {
    OnnxModelMetadata meta = session.getMetadata();
    return meta.getCustomMetadata();
  }

  private static long[] shape(NodeInfo info) {
    if (info.getInfo() instanceof TensorInfo tensor) {
      return tensor.getShape();
    }
    return new long[0];
  }

  private static InferenceException loadError(Path file, String reason) {
    return new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR, "model " + file + ": " + reason);
  }

  private static void closeQuietly(OrtSession session) {
    try {
      session.close();
    } catch (OrtException ignored) {
      // already failing
    }
  }

  public String name() {
    return name;
  }

  public Path file() {
    return file;
  }

  /**
   * The raw session, for code that holds a {@link #use()} (or owns the model before anyone else sees it, like the
   * warm-up). Running it outside a use races {@link #close}.
   */
  public OrtSession session() {
    return session;
  }

  public ModelLayout layout() {
    return layout;
  }

  public String inputName() {
    return inputName;
  }

  public String outputName() {
    return outputName;
  }

  public int inputWidth() {
    return inputWidth;
  }

  public int inputHeight() {
    return inputHeight;
  }

  public boolean dynamicBatch() {
    return dynamicBatch;
  }

  public int outputRows() {
    return outputRows;
  }

  public int outputCols() {
    return outputCols;
  }

  public List<String> classNames() {
    return classNames;
  }

  /** Execution provider the session runs on ("CUDA" or "CPU"). */
  public String provider() {
    return device == OrtRuntime.Device.CUDA ? "CUDA" : "CPU";
  }

  /** Device the session runs on: {@link OrtRuntime.Device#CUDA} or {@link OrtRuntime.Device#CPU}. */
  public OrtRuntime.Device device() {
    return device;
  }

  /** Lets a CUDA model open its CPU twin when a run needs it (see {@link #cpu()}). */
  void cpuLoader(CpuLoader loader) {
    this.cpuLoader = loader;
  }

  /**
   * This model on CPU: itself when it runs there, else its CPU twin, opened on first need (the last step of the
   * out-of-memory ladder) and kept, and closed with this model. Refused once closing began.
   */
  public OnnxModel cpu() throws InferenceException {
    if (device == OrtRuntime.Device.CPU) {
      return this;
    }
    synchronized (twinLock) {
      if (closing()) {
        throw new ClosedException(name);
      }
      if (cpuTwin == null) {
        CpuLoader loader = cpuLoader;
        if (loader == null) {
          throw new InferenceException(InferenceException.Code.INFERENCE_ERROR,
              "model " + name + " runs on " + device + " and has no way to open a CPU session");
        }
        OnnxModel twin = loader.load();
        if (closing()) {
          // Closed while the twin loaded: nobody would close it later.
          twin.close(java.time.Duration.ZERO);
          throw new ClosedException(name);
        }
        cpuTwin = twin;
      }
      return cpuTwin;
    }
  }

  /**
   * Marks one run on the session; {@link #close} waits until every use is closed before it frees the native
   * session. Thrown away after the run (try-with-resources); closing it twice counts once.
   */
  public final class Use implements AutoCloseable {
    private boolean released;

    private Use() {
    }

    public OrtSession session() {
      return session;
    }

    /** One run on the session, through the model's backend (which reports a GPU out of memory as such). */
    public OrtSession.Result run(Map<String, ? extends OnnxTensorLike> inputs, Set<String> outputs,
                                 Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException {
      return backend.run(session, device, inputs, outputs, pinnedOutputs);
    }

    @Override
    public void close() {
      synchronized (gate) {
        if (!released) {
          released = true;
          inFlight--;
          gate.notifyAll();
        }
      }
    }
  }

  /** A run refused because the model is closing or closed: nothing native was touched. */
  public static final class ClosedException extends IllegalStateException {
    ClosedException(String name) {
      super("model " + name + " is closed (the process is shutting down)");
    }
  }

  private final Object gate = new Object();
  private final Object twinLock = new Object();
  private int inFlight;
  private boolean closing;
  private boolean closed;

  /**
   * Starts one run on the session. Every native call on the session must happen inside a use; once closing has
   * begun no new use is granted ({@link ClosedException}), so a run after close fails before touching freed memory.
   */
  public Use use() {
    synchronized (gate) {
      if (closing) {
        throw new ClosedException(name);
      }
      inFlight++;
      return new Use();
    }
  }

  /** Refuses new runs from now on; runs in flight go on (the close that follows waits for them). */
  public void beginClose() {
    synchronized (gate) {
      closing = true;
    }
    OnnxModel twin = twin();
    if (twin != null) {
      twin.beginClose();
    }
  }

  private OnnxModel twin() {
    synchronized (twinLock) {
      return cpuTwin;
    }
  }

  /** True once closing began: a caller between two runs should stop rather than ask for another. */
  public boolean closing() {
    synchronized (gate) {
      return closing;
    }
  }

  /** Runs in flight now (for tests and logs). */
  public int inFlight() {
    synchronized (gate) {
      return inFlight;
    }
  }

  /**
   * Refuses new runs, waits up to {@code grace} for those in flight to return, then frees the session. When runs
   * are still in flight after the grace the session is left open (its memory is leaked, never freed under a
   * running inference) and false is returned; the process is about to exit anyway.
   */
  public boolean close(java.time.Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    synchronized (gate) {
      closing = true;
      if (closed) {
        return true;
      }
      while (inFlight > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        try {
          gate.wait(Math.max(1, left / 1_000_000));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      }
      closed = true;
    }
    closeQuietly(session);
    OnnxModel twin = twin();
    return twin == null || twin.close(java.time.Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
  }

  /** {@link #close(java.time.Duration)} with 30 s for runs in flight. */
  @Override
  public void close() {
    if (!close(java.time.Duration.ofSeconds(30))) {
      org.slf4j.LoggerFactory.getLogger(OnnxModel.class).warn(
          "model {}: {} run(s) still in flight after 30 s; its session is left open", name, inFlight());
    }
  }
}
