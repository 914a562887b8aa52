package io.osprey.pipeline;

import io.osprey.imaging.ImageBudget;
import io.osprey.imaging.ImageInspector;
import io.osprey.inference.Detection;
import io.osprey.inference.DetectionEngine;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.ImageDetections;
import io.osprey.inference.ImageReader;
import io.osprey.inference.InferenceException;
import io.osprey.inference.OnnxModel;
import io.osprey.rules.RulesException;
import io.osprey.rules.RulesStage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.opencv.opencv_core.Mat;

/**
 * One job image from stored file to stored results: the header is checked against the pixel budget, the image is
 * decoded, detected on (sliced, with the engine's CUDA out-of-memory ladder), passed through the rules stage when
 * the job enables it, and its result files are written (labels, JSON, annotated JPEG and thumbnail). What comes
 * back is what the job runner records: counts, mean confidence, where inference ran, and, when the job makes
 * annotations, the kept boxes in the annotation's form.
 *
 * <p>Plain Java and blocking. One caller at a time: a pipeline keeps one {@link DetectionEngine} per model
 * (tensors and Mats allocated once, reused image after image); each worker owns its own pipeline, and the model
 * sessions underneath are shared.
 */
public final class ImagePipeline implements AutoCloseable {
  private final RulesStage rules;
  private final ResultWriter writer;
  private final ImageBudget budget;
  private final int maxBatch;
  private final boolean overlap;
  private final Map<String, DetectionEngine> engines = new HashMap<>();
  /** Decodes into buffers kept from image to image (see {@link ImageReader}). */
  private final ImageReader reader = new ImageReader();

  /**
   * @param maxBatch most tiles per model call for dynamic-batch models (inference.batch_size)
   * @param overlap  prepare and decode tiles while inference runs (see {@link DetectionEngine#overlapPays})
   */
  public ImagePipeline(RulesStage rules, ResultWriter writer, ImageBudget budget, int maxBatch, boolean overlap) {
    this.rules = rules;
    this.writer = writer;
    this.budget = budget;
    this.maxBatch = maxBatch;
    this.overlap = overlap;
  }

  /** The rules stage's part of a job: its rule set, the image's metadata, the rule set's parameters. */
  public record Rules(String ruleSet, Map<String, Object> metadata, Map<String, Object> params) {
  }

  /**
   * One image of a job.
   *
   * @param image    the stored file
   * @param fileName the name the user uploaded it under (messages, rule facts)
   * @param rules    null when the job does not run the rules stage
   * @param keepBoxes return the kept boxes (the job makes annotations)
   */
  public record Request(String jobId, String fileId, Path image, String fileName, DetectionParams params,
                        Rules rules, boolean visualize, boolean keepBoxes) {
  }

  /** A kept detection as an annotation stores it: class, centre and size as fractions of the image, confidence. */
  public record Box(int classId, String className, double centerX, double centerY, double width, double height,
                    double confidence) {
  }

  /**
   * What the runner records of one image.
   *
   * @param meanConfidence null when nothing was kept
   * @param annotated      the annotated JPEG and thumbnail were written
   * @param device         where inference ran: "cuda", or "cpu" (a CPU model, or CUDA's CPU twin after an OOM)
   * @param boxes          the kept boxes when asked for ({@link Request#keepBoxes}), else empty
   */
  public record Result(int detections, Double meanConfidence, boolean annotated, int width, int height,
                       String device, List<Box> boxes) {
  }

  /**
   * Runs the image through every stage. Fails with {@link InferenceException} for what retrying cannot change (a
   * missing or undecodable file, too many pixels, a failing rule set: codes FILE_NOT_FOUND, CORRUPTED_FILE,
   * INVALID_DIMENSIONS, RULES_ERROR) and for an inference error; with {@link IOException} when results cannot be
   * written; with {@link OnnxModel.ClosedException} when the model is closing (the process is stopping).
   */
  public Result process(OnnxModel model, Request request) throws InferenceException, IOException {
    Path path = request.image();
    String name = "image " + request.fileName() + " (" + request.fileId() + ")";
    if (!Files.isRegularFile(path)) {
      throw new InferenceException(InferenceException.Code.FILE_NOT_FOUND, name + " is missing from storage");
    }
    checkBeforeDecoding(name, path);
    try {
      Mat image;
      try {
        image = reader.read(path);
      } catch (IOException e) {
        throw new InferenceException(InferenceException.Code.CORRUPTED_FILE, name + " cannot be read: "
            + e.getMessage(), e);
      }
      if (image.empty()) {
        throw new InferenceException(InferenceException.Code.CORRUPTED_FILE, name + " cannot be decoded");
      }
      ImageDetections found = engine(model).detect(image, request.params());
      List<Detection> detections = found.detections();
      RulesStage.Outcome ruled = null;
      Rules wanted = request.rules();
      if (wanted != null) {
        try {
          ruled = rules.apply(wanted.ruleSet(), new RulesStage.ImageFacts(image.cols(), image.rows(),
              request.fileName(), wanted.metadata(), wanted.params()), detections, model.classNames());
        } catch (RulesException e) {
          throw new InferenceException(InferenceException.Code.RULES_ERROR, e.getMessage(), e);
        }
        detections = ruled.kept();
      }
      writer.write(request.jobId(), request.fileId(), image.cols(), image.rows(), detections, ruled, image,
          request.visualize());
      double mean = detections.stream().mapToDouble(Detection::score).average().orElse(Double.NaN);
      return new Result(detections.size(), Double.isNaN(mean) ? null : mean, request.visualize(), image.cols(),
          image.rows(), found.device().name().toLowerCase(Locale.ROOT),
          request.keepBoxes() ? boxes(detections, image.cols(), image.rows()) : List.of());
    } finally {
      reader.trim();
    }
  }

  /**
   * Defence in depth for files stored before the pixel budget existed, or put in storage by other means: the
   * header is read (no decoding) and an image over images.max_pixels or with a broken structure fails with its own
   * code instead of making OpenCV allocate whatever it declares. Decodes are bounded by the number of pipelines
   * (jobs.worker_instances images at a time per process), each at most images.max_pixels.
   */
  private void checkBeforeDecoding(String name, Path path) throws InferenceException, IOException {
    ImageInspector.Result r = ImageInspector.inspect(path, path.getFileName().toString());
    if (!r.ok()) {
      throw new InferenceException(InferenceException.Code.CORRUPTED_FILE, name + ": " + r.errorMessage());
    }
    String tooLarge = budget.violation(r.width(), r.height());
    if (tooLarge != null) {
      throw new InferenceException(InferenceException.Code.INVALID_DIMENSIONS, name + ": " + tooLarge);
    }
  }

  /**
   * Kept detections as fractions of the image, clamped to it; a box with nothing left inside is dropped, and the
   * confidence is rounded to 4 places as the results files have it.
   */
  static List<Box> boxes(List<Detection> detections, int width, int height) {
    List<Box> boxes = new ArrayList<>();
    for (Detection d : detections) {
      double x1 = clamp(d.x1() / (double) width);
      double y1 = clamp(d.y1() / (double) height);
      double x2 = clamp(d.x2() / (double) width);
      double y2 = clamp(d.y2() / (double) height);
      if (x2 > x1 && y2 > y1) {
        boxes.add(new Box(d.classId(), d.className(), (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1,
            Math.round(d.score() * 10000) / 10000.0));
      }
    }
    return List.copyOf(boxes);
  }

  private static double clamp(double v) {
    return Math.max(0, Math.min(1, v));
  }

  private DetectionEngine engine(OnnxModel model) throws InferenceException {
    DetectionEngine engine = engines.get(model.name());
    if (engine == null || engine.model() != model) {
      // A model loaded again (a new session) gets a new engine; the old one's buffers go when the pipeline closes.
      if (engine != null) {
        engine.close(Duration.ZERO);
      }
      engine = new DetectionEngine(model, maxBatch, overlap);
      engines.put(model.name(), engine);
    }
    return engine;
  }

  /**
   * Frees the engines' tensors and Mats once no image runs on them, waiting up to {@code grace} for each; an
   * engine still busy past it is left (a leak at exit is harmless, a free under a running inference is not), and so
   * is the decoded image's buffer then, which that image may still be using.
   */
  public void close(Duration grace) {
    boolean idle = true;
    for (DetectionEngine e : engines.values()) {
      idle &= e.close(grace);
    }
    engines.clear();
    if (idle) {
      reader.close();
    }
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }
}
