package io.osprey.jobs;

import io.vertx.core.Future;
import java.nio.file.Path;
import java.util.List;

/**
 * What the job runner needs of annotations (a job's {@code create_annotations}): declared here, by its user, and
 * implemented by the annotations module, so that jobs never imports annotations.
 */
public interface AnnotationSink {
  /** One box in the annotation's form: class, centre and size as fractions of the image, confidence. */
  record Box(int classId, String className, double centerX, double centerY, double width, double height,
             double confidence) {
  }

  /**
   * One job image to annotate. The image file is kept (it belongs to the upload); a copy goes with the annotation.
   */
  record JobImage(Path imageFile, String name, String flightId, String waypointId, List<Box> boxes, String user,
                  String jobId) {
  }

  /**
   * Creates the annotation through the module's own create path (rows, outbox, live event, files). Fails with
   * an {@code OspreyException} of code {@code ANNOTATION_EXISTS} when an annotation of the same image exists.
   */
  Future<Void> create(JobImage image);

  /** How many annotations the job has made (the job summary's {@code annotations_created}). */
  Future<Long> countForJob(String jobId);
}
