package io.osprey.inference;

/** A failure of the detection engine with the job error code it maps to. */
public final class InferenceException extends Exception {
  public enum Code {
    /** The model file is missing, unreadable or not a detector Osprey understands. Not retried. */
    MODEL_LOAD_ERROR,
    /** The image file is missing. Not retried. */
    FILE_NOT_FOUND,
    /** The image file exists but cannot be decoded. Not retried. */
    CORRUPTED_FILE,
    /** The image declares more pixels than images.max_pixels; it is not decoded. Not retried. */
    INVALID_DIMENSIONS,
    /** A parameter is out of range for this image or model. Not retried. */
    INVALID_CONFIG,
    /** The rules stage failed: a rule file that does not parse, a rule that throws or overruns its budget. */
    RULES_ERROR,
    /** ONNX Runtime failed while running; may succeed on retry. */
    INFERENCE_ERROR
  }

  private final Code code;

  public InferenceException(Code code, String message) {
    super(message);
    this.code = code;
  }

  public InferenceException(Code code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public Code code() {
    return code;
  }
}
