package io.osprey.inference;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Session options for every model and the device models are loaded on first: CUDA when asked for or, in
 * {@code auto}, when the ONNX Runtime build has it (the {@code gpu} Maven profile), else CPU; thread counts from
 * configuration. The choice is logged once. A model that cannot be loaded on CUDA is loaded on CPU instead (see
 * {@link ModelRegistry}); sessions are opened and run through the {@link SessionBackend}.
 */
public final class OrtRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(OrtRuntime.class);

  public enum Device { AUTO, CPU, CUDA }

  private final OrtEnvironment env;
  private final int intraOpThreads;
  private final int interOpThreads;
  private final String provider;
  private final SessionBackend backend;

  public OrtRuntime(Device device, int intraOpThreads, int interOpThreads) throws InferenceException {
    this(device, intraOpThreads, interOpThreads, SessionBackend.onnxRuntime());
  }

  public OrtRuntime(Device device, int intraOpThreads, int interOpThreads, SessionBackend backend)
      throws InferenceException {
    this.backend = backend;
    try {
      this.env = OrtThreads.call(OrtEnvironment::getEnvironment);
    } catch (Exception e) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "ONNX Runtime cannot start: " + e.getMessage(), e);
    }
    this.intraOpThreads = intraOpThreads > 0 ? intraOpThreads : Runtime.getRuntime().availableProcessors();
    this.interOpThreads = Math.max(1, interOpThreads);
    boolean cudaBuilt = backend.cudaAvailable();
    if (device == Device.CUDA && !cudaBuilt) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "inference.device is cuda but this ONNX Runtime build has no CUDA provider (build with -Pgpu)");
    }
    this.provider = device == Device.CPU || !cudaBuilt ? "CPU" : "CUDA";
    LOG.info("ONNX Runtime {} on {} (available providers {}), intra-op threads {}, inter-op threads {}",
        OrtEnvironment.class.getPackage().getImplementationVersion() == null ? ""
            : OrtEnvironment.class.getPackage().getImplementationVersion(),
        provider, OrtEnvironment.getAvailableProviders(), this.intraOpThreads, this.interOpThreads);
  }

  public static Device parseDevice(String text) {
    return Device.valueOf(text.trim().toUpperCase(Locale.ROOT));
  }

  public OrtEnvironment environment() {
    return env;
  }

  public int intraOpThreads() {
    return intraOpThreads;
  }

  /** Execution provider models are loaded on first ("CUDA" or "CPU"). */
  public String provider() {
    return provider;
  }

  /** Device models are loaded on first: {@link Device#CUDA} or {@link Device#CPU}. */
  public Device preferred() {
    return provider.equals("CUDA") ? Device.CUDA : Device.CPU;
  }

  public SessionBackend backend() {
    return backend;
  }

  /**
   * Fresh options for one session, on any device (the backend adds the CUDA provider when it opens a session on
   * CUDA); the caller closes them after creating the session.
   */
  public OrtSession.SessionOptions sessionOptions() throws InferenceException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      options.setIntraOpNumThreads(intraOpThreads);
      options.setInterOpNumThreads(interOpThreads);
      return options;
    } catch (OrtException e) {
      options.close();
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "cannot configure ONNX Runtime: " + e.getMessage(), e);
    }
  }
}
