package io.osprey.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The models of a directory, by file name without {@code .onnx}. Each is loaded once, warmed up with one inference
 * (so the first real tile does not pay ONNX Runtime's lazy initialisation), and shared by every worker.
 */
public final class ModelRegistry implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private final OrtRuntime runtime;
  private final Path directory;
  private final String defaultModel;
  private final Map<String, OnnxModel> loaded = new ConcurrentHashMap<>();
  private final Map<String, Described> described = new ConcurrentHashMap<>();
  /** Set when closing begins; from then on nothing is loaded and every model refuses new runs. */
  private volatile boolean closing;

  /** @param runtime null in processes that only check model names (the API role) */
  public ModelRegistry(OrtRuntime runtime, Path directory, String defaultModel) {
    this.runtime = runtime;
    this.directory = directory.toAbsolutePath().normalize();
    this.defaultModel = defaultModel;
  }

  public Path directory() {
    return directory;
  }

  public String defaultModel() {
    return defaultModel;
  }

  /** Model names present in the directory, sorted. */
  public List<String> available() {
    if (!Files.isDirectory(directory)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(directory)) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".onnx"))
          .map(n -> n.substring(0, n.length() - ".onnx".length()))
          .filter(n -> NAME.matcher(n).matches())
          .sorted().toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  /**
   * Every model of the directory, described for clients choosing one (blocking: reads the directory and, once per
   * file version, the file's header; call it off the event loop). A model this process has loaded is described as
   * loaded; the others from their file, without loading them. {@code device} is where this process runs the model
   * ("cuda" or "cpu": where it is loaded, else where it would be loaded first), null in a process without a runtime
   * (the API role: its workers decide).
   */
  public List<ModelDescription> describeAll() {
    List<String> names = available();
    described.keySet().retainAll(names);
    return names.stream().map(this::describe).toList();
  }

  private ModelDescription describe(String name) {
    Path file = fileOf(name);
    OnnxModel model = loaded.get(name);
    String device = runtime == null ? null : (model != null ? model.device() : runtime.preferred())
        .name().toLowerCase(java.util.Locale.ROOT);
    String stamp;
    try {
      stamp = Files.getLastModifiedTime(file).toMillis() + ":" + Files.size(file);
    } catch (IOException e) {
      return ModelDescription.read(name, file).on(device); // gone meanwhile: read says so
    }
    if (model != null) {
      return ModelDescription.of(model, Long.parseLong(stamp.substring(stamp.indexOf(':') + 1))).on(device);
    }
    Described known = described.get(name);
    if (known == null || !known.stamp().equals(stamp)) {
      known = new Described(stamp, ModelDescription.read(name, file));
      described.put(name, known);
    }
    return known.description().on(device);
  }

  /** A file's description and the version (modification time and size) it was read from. */
  private record Described(String stamp, ModelDescription description) {
  }

  /** True when {@code name} (or the default for null) names a model file in the directory. */
  public boolean exists(String name) {
    String resolved = resolveName(name);
    return NAME.matcher(resolved).matches() && Files.isRegularFile(fileOf(resolved));
  }

  /** The loaded model; null or blank means the default. */
  public OnnxModel get(String name) throws InferenceException {
    if (runtime == null) {
      throw new IllegalStateException("this process has no ONNX Runtime (API role): it can only list models");
    }
    String resolved = resolveName(name);
    if (!NAME.matcher(resolved).matches()) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "'" + name + "' is not a model name (letters, digits, '.', '_' and '-' only)");
    }
    OnnxModel model = loaded.get(resolved);
    if (model != null) {
      return model;
    }
    synchronized (this) {
      if (closing) {
        throw new OnnxModel.ClosedException(resolved);
      }
      model = loaded.get(resolved);
      if (model == null) {
        model = load(resolved);
        loaded.put(resolved, model);
      }
      return model;
    }
  }

  private String resolveName(String name) {
    return name == null || name.isBlank() ? defaultModel : name.strip();
  }

  private Path fileOf(String name) {
    return directory.resolve(name + ".onnx");
  }

  /**
   * Loads a model on the runtime's device. The spec's ladder for a load: a model that ONNX Runtime cannot open (or
   * warm up) on CUDA is loaded on CPU instead, and says so ({@link OnnxModel#device()}, which jobs report). A model
   * on CUDA gets the means to open its CPU twin, for runs the GPU has no memory for.
   */
  private OnnxModel load(String name) throws InferenceException {
    long start = System.nanoTime();
    Path file = fileOf(name);
    OnnxModel model;
    if (runtime.preferred() == OrtRuntime.Device.CUDA) {
      try {
        model = open(name, file, OrtRuntime.Device.CUDA);
        model.cpuLoader(() -> open(name, file, OrtRuntime.Device.CPU));
      } catch (InferenceException onCuda) {
        if (!(onCuda.getCause() instanceof OrtException)) {
          throw onCuda; // no file, or a graph Osprey does not understand: the same on any device
        }
        LOG.warn("model {}: cannot be loaded on CUDA ({}); loading it on CPU instead", name, onCuda.getMessage());
        try {
          model = open(name, file, OrtRuntime.Device.CPU);
        } catch (InferenceException onCpu) {
          throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR, onCpu.getMessage()
              + " (on CUDA before: " + onCuda.getMessage() + ")", onCpu);
        }
      }
    } else {
      model = open(name, file, OrtRuntime.Device.CPU);
    }
    LOG.info("model {} loaded from {}: layout {}, input {}x{}, {} classes, batch {}, {} in {} ms", name, file,
        model.layout().name().toLowerCase(), model.inputWidth(), model.inputHeight(), model.classNames().size(),
        model.dynamicBatch() ? "dynamic" : "fixed 1", model.provider(), (System.nanoTime() - start) / 1_000_000);
    return model;
  }

  /** Opens and warms up one session of the model on {@code device}, on ONNX Runtime's large-stack thread. */
  private OnnxModel open(String name, Path file, OrtRuntime.Device device) throws InferenceException {
    try {
      return OrtThreads.call(() -> {
        OnnxModel loadedModel;
        try (OrtSession.SessionOptions options = runtime.sessionOptions()) {
          loadedModel = OnnxModel.load(name, file, runtime.environment(), options, device, runtime.backend());
        }
        try {
          warmUp(loadedModel);
        } catch (OrtException e) {
          loadedModel.close();
          throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
              "model " + file + " fails its warm-up inference on " + device + ": " + e.getMessage(), e);
        }
        return loadedModel;
      });
    } catch (InferenceException e) {
      throw e;
    } catch (Exception e) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "model " + file + " cannot be loaded: " + e, e);
    }
  }

  private static void warmUp(OnnxModel model) throws OrtException {
    int floats = 3 * model.inputWidth() * model.inputHeight();
    FloatBuffer zeros = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    try (OnnxTensor input = OnnxTensor.createTensor(ai.onnxruntime.OrtEnvironment.getEnvironment(), zeros,
        new long[] {1, 3, model.inputHeight(), model.inputWidth()});
         OnnxModel.Use use = model.use();
         OrtSession.Result ignored = use.run(Map.of(model.inputName(), input),
             java.util.Set.of(model.outputName()), Map.of())) {
      // the run itself is the point
    }
  }

  /**
   * Refuses new runs on every model (and new loads) from now on, without waiting: an image in progress stops at its
   * next batch of tiles. Used when a shutdown's grace ran out.
   */
  public void beginClose() {
    closing = true;
    synchronized (this) {
      loaded.values().forEach(OnnxModel::beginClose);
    }
  }

  /**
   * Closes every model once the runs in flight on it have returned, waiting up to {@code grace} in all. Returns
   * false when some session had to be left open because a run was still in it (logged).
   */
  public boolean close(java.time.Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    boolean all = true;
    synchronized (this) {
      closing = true;
      loaded.values().forEach(OnnxModel::beginClose);
      for (OnnxModel model : loaded.values()) {
        if (!model.close(java.time.Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
          LOG.warn("model {}: {} run(s) still in flight after the shutdown grace; its session is left open",
              model.name(), model.inFlight());
          all = false;
        }
      }
      loaded.clear();
    }
    return all;
  }

  /** {@link #close(java.time.Duration)} with 30 s for runs in flight. */
  @Override
  public void close() {
    close(java.time.Duration.ofSeconds(30));
  }
}
