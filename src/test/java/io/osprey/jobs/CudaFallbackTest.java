package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import io.osprey.inference.InferenceException;
import io.osprey.testing.UnitTest;
import org.junit.jupiter.api.Test;

/** Which failures send an image back to the CPU (no GPU here: the decision is tested, not the CUDA run). */
@UnitTest
class CudaFallbackTest {
  private static InferenceException wrapped(String ortMessage) {
    return new InferenceException(InferenceException.Code.INFERENCE_ERROR, "ONNX Runtime failed on model m",
        new OrtException(ortMessage));
  }

  @Test
  void cudaAllocationFailuresAreRecognisedWhateverTheLibrarySays() {
    assertTrue(JobRunnerVerticle.cudaOutOfMemory(wrapped(
        "CUDA failure 2: out of memory ; GPU=0 ; hostname=x ; expr=cudaMalloc((void**)&p, size);")));
    assertTrue(JobRunnerVerticle.cudaOutOfMemory(wrapped("CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED")));
    assertTrue(JobRunnerVerticle.cudaOutOfMemory(wrapped(
        "Failed to allocate memory for requested buffer of size 1073741824 (CUDA)")));
  }

  @Test
  void otherFailuresAreNot() {
    assertFalse(JobRunnerVerticle.cudaOutOfMemory(wrapped("Got invalid dimensions for input: images")));
    assertFalse(JobRunnerVerticle.cudaOutOfMemory(new java.io.IOException("No space left on device")));
    assertFalse(JobRunnerVerticle.cudaOutOfMemory(wrapped("out of memory")), "a CPU allocation failure stays");
  }
}
