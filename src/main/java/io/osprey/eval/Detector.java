package io.osprey.eval;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Runs a model over images with one configuration: in this process, or through a running service. */
public interface Detector extends AutoCloseable {

  /** An image to detect on: its ground-truth id and its file. */
  record ImageFile(long imageId, Path file) {
  }

  /** A detected box, corners in pixels of the original image. */
  record Found(String className, double score, double x1, double y1, double x2, double y2) {
  }

  /** What was found in each image, by image id. */
  Map<Long, List<Found>> detect(List<ImageFile> images, SahiConfig config) throws Exception;

  /** The model's class names, or null when this detector cannot know them (then the mapping is not checked). */
  List<String> classNames() throws Exception;

  /** Where detection runs, for reports ("local, CPU", "http://host:8080"). */
  String where();

  @Override
  default void close() throws Exception {
  }
}
