package io.osprey.testing;

import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.osprey.inference.OrtRuntime;
import io.osprey.inference.SessionBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A GPU that fails on purpose, for machines without one. ONNX Runtime's CPU provider computes what the "CUDA"
 * sessions return (the ladder's decisions are under test, not CUDA's arithmetic); the failures are injected where a
 * real GPU raises them: opening a session on CUDA ({@link #failCudaLoad}) and running a batch on it (out of memory
 * for more tiles than {@link #oomAbove}, or from the n-th CUDA run on: {@link #oomFromRun}). Every open and run is
 * recorded as {@code DEVICE:tiles}.
 */
public final class FailingGpu implements SessionBackend {
  private final SessionBackend real = SessionBackend.onnxRuntime();
  /** Opening a session on CUDA fails as a broken CUDA installation does. */
  public volatile boolean failCudaLoad;
  /** CUDA runs with more tiles than this run out of memory (MAX_VALUE: never). */
  public volatile int oomAbove = Integer.MAX_VALUE;
  /** CUDA runs from this one on (1-based, warm-ups included) run out of memory whatever their size. */
  public volatile int oomFromRun = Integer.MAX_VALUE;
  /** CUDA runs fail with a plain (not out-of-memory) ONNX Runtime error. */
  public volatile boolean failCudaRuns;
  private final AtomicInteger cudaRuns = new AtomicInteger();
  private final List<String> opens = new ArrayList<>();
  private final List<String> runs = new ArrayList<>();

  @Override
  public boolean cudaAvailable() {
    return true;
  }

  @Override
  public OrtSession open(OrtEnvironment env, Path file, OrtSession.SessionOptions options, OrtRuntime.Device device)
      throws OrtException {
    synchronized (this) {
      opens.add(device.name());
    }
    if (device == OrtRuntime.Device.CUDA && failCudaLoad) {
      throw new OrtException(OrtException.OrtErrorCode.ORT_RUNTIME_EXCEPTION,
          "CUDA failure 100: no CUDA-capable device is detected ; GPU=0 (injected)");
    }
    return real.open(env, file, options, OrtRuntime.Device.CPU);
  }

  @Override
  public OrtSession.Result run(OrtSession session, OrtRuntime.Device device,
                               Map<String, ? extends OnnxTensorLike> inputs, Set<String> outputs,
                               Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException {
    int tiles = (int) inputs.values().iterator().next().getInfo().getShape()[0];
    synchronized (this) {
      runs.add(device.name() + ":" + tiles);
    }
    if (device == OrtRuntime.Device.CUDA) {
      int n = cudaRuns.incrementAndGet();
      if (tiles > oomAbove || n >= oomFromRun) {
        throw new DeviceOutOfMemoryException("CUDA failure 2: out of memory (injected) for " + tiles + " tile(s)");
      }
      if (failCudaRuns) {
        throw new OrtException(OrtException.OrtErrorCode.ORT_RUNTIME_EXCEPTION,
            "Non-zero status code returned while running Conv node (injected)");
      }
    }
    return real.run(session, OrtRuntime.Device.CPU, inputs, outputs, pinnedOutputs);
  }

  /** Every CUDA run after the next {@code runs} runs out of memory. */
  public void oomAfter(int runs) {
    oomFromRun = cudaRuns.get() + runs + 1;
  }

  public synchronized List<String> opens() {
    return List.copyOf(opens);
  }

  public synchronized List<String> runs() {
    return List.copyOf(runs);
  }

  /** Forgets what was recorded so far (the load's warm-up, say). */
  public synchronized void clear() {
    opens.clear();
    runs.clear();
  }
}
