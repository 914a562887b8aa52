package io.osprey.inference;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Session options for every model: CUDA when asked for or, in {@code auto}, when the ONNX Runtime build has it
 * (the {@code gpu} Maven profile), else CPU; thread counts from configuration. The choice is logged once.
 */
public final class OrtRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(OrtRuntime.class);

  public enum Device { AUTO, CPU, CUDA }

  private final OrtEnvironment env;
  private final Device device;
  private final int intraOpThreads;
  private final int interOpThreads;
  private final String provider;

  public OrtRuntime(Device device, int intraOpThreads, int interOpThreads) throws InferenceException {
    this.device = device;
    try {
      this.env = OrtThreads.call(OrtEnvironment::getEnvironment);
    } catch (Exception e) {
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "ONNX Runtime cannot start: " + e.getMessage(), e);
    }
    this.intraOpThreads = intraOpThreads > 0 ? intraOpThreads : Runtime.getRuntime().availableProcessors();
    this.interOpThreads = Math.max(1, interOpThreads);
    boolean cudaBuilt = OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
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

  public String provider() {
    return provider;
  }

  /** Fresh options for one session; the caller closes them after creating the session. */
  public OrtSession.SessionOptions sessionOptions() throws InferenceException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      options.setIntraOpNumThreads(intraOpThreads);
      options.setInterOpNumThreads(interOpThreads);
      if (provider.equals("CUDA")) {
        try {
          options.addCUDA(0);
        } catch (OrtException e) {
          if (device == Device.CUDA) {
            throw e;
          }
          LOG.warn("CUDA provider could not start ({}); this session runs on CPU", e.getMessage());
        }
      }
      return options;
    } catch (OrtException e) {
      options.close();
      throw new InferenceException(InferenceException.Code.MODEL_LOAD_ERROR,
          "cannot configure ONNX Runtime: " + e.getMessage(), e);
    }
  }
}
