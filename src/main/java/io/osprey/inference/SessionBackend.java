package io.osprey.inference;

import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The two native steps the recovery ladder reacts to: opening a model file on a device and running a batch on it.
 * Production uses {@link #onnxRuntime()}; a test wraps it to make a CUDA load or a run fail the way a GPU does, so the
 * ladder (CUDA load failure: CPU; out of memory: half the batch, once, then CPU) is proven on machines without one.
 */
public interface SessionBackend {

  /** True when this ONNX Runtime build can run sessions on CUDA. */
  boolean cudaAvailable();

  /**
   * Opens {@code file} on {@code device} ({@link OrtRuntime.Device#CPU} or {@link OrtRuntime.Device#CUDA}) with
   * {@code options} (threads and optimisation already set; the CUDA provider is added here for CUDA).
   */
  OrtSession open(OrtEnvironment env, Path file, OrtSession.SessionOptions options, OrtRuntime.Device device)
      throws OrtException;

  /**
   * One run of a session opened on {@code device}. An allocation failure on the GPU is thrown as
   * {@link DeviceOutOfMemoryException}, which is what the ladder acts on; every other failure as it came.
   *
   * @param pinnedOutputs outputs ONNX Runtime writes into instead of allocating (may be empty)
   */
  OrtSession.Result run(OrtSession session, OrtRuntime.Device device, Map<String, ? extends OnnxTensorLike> inputs,
                        Set<String> outputs, Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException;

  /** The GPU had no memory for a run (or a load); a smaller batch or the CPU may still succeed. */
  final class DeviceOutOfMemoryException extends OrtException {
    public DeviceOutOfMemoryException(String message) {
      super(message);
    }
  }

  /** ONNX Runtime itself: what the service runs. */
  static SessionBackend onnxRuntime() {
    return OnnxRuntimeBackend.INSTANCE;
  }

  /**
   * True for ONNX Runtime's CUDA allocation failures. ONNX Runtime's Java API has no error code for them (they come
   * as ORT_FAIL or ORT_RUNTIME_EXCEPTION), so the message decides; it differs between CUDA, cuBLAS and cuDNN.
   */
  static boolean cudaOutOfMemory(OrtException e) {
    String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
    return (m.contains("cuda") || m.contains("cublas") || m.contains("cudnn"))
        && (m.contains("out of memory") || m.contains("alloc_failed") || m.contains("memoryallocation")
            || m.contains("failed to allocate"));
  }

  /** The production backend. */
  final class OnnxRuntimeBackend implements SessionBackend {
    static final OnnxRuntimeBackend INSTANCE = new OnnxRuntimeBackend();

    private OnnxRuntimeBackend() {
    }

    @Override
    public boolean cudaAvailable() {
      return OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
    }

    @Override
    public OrtSession open(OrtEnvironment env, Path file, OrtSession.SessionOptions options, OrtRuntime.Device device)
        throws OrtException {
      if (device == OrtRuntime.Device.CUDA) {
        options.addCUDA(0);
      }
      return env.createSession(file.toString(), options);
    }

    @Override
    public OrtSession.Result run(OrtSession session, OrtRuntime.Device device,
                                 Map<String, ? extends OnnxTensorLike> inputs, Set<String> outputs,
                                 Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException {
      try {
        return session.run(inputs, outputs, pinnedOutputs);
      } catch (OrtException e) {
        if (device == OrtRuntime.Device.CUDA && cudaOutOfMemory(e)) {
          DeviceOutOfMemoryException oom = new DeviceOutOfMemoryException(e.getMessage());
          oom.initCause(e);
          throw oom;
        }
        throw e;
      }
    }
  }
}
