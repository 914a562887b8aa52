package io.osprey.eval;

import java.util.List;

/**
 * A COCO ground truth as the evaluation needs it: images, categories and annotations (boxes only; segmentations are
 * not used by a {@code bbox} evaluation). Plain data, read by the caller from the JSON file.
 */
public record CocoDataset(List<Image> images, List<Category> categories, List<Annotation> annotations) {

  public CocoDataset {
    images = List.copyOf(images);
    categories = List.copyOf(categories);
    annotations = List.copyOf(annotations);
  }

  public record Image(long id, String fileName, int width, int height) {
  }

  public record Category(long id, String name) {
  }

  /**
   * One ground-truth object.
   *
   * @param x      left edge, pixels ({@code bbox[0]})
   * @param y      top edge, pixels ({@code bbox[1]})
   * @param area   the area used for the small/medium/large ranges (see {@link AreaSource})
   * @param crowd  {@code iscrowd}: a crowd region, which pycocotools marks ignore and lets any number of detections
   *               match (their IoU is intersection over the detection's own area)
   */
  public record Annotation(long id, long imageId, long categoryId, double x, double y, double width, double height,
                           double area, boolean crowd) {
  }

  /**
   * Where an annotation's area comes from. pycocotools reads the {@code area} field as it is; some files (SAHI's
   * test sets among them) put the whole image's area there, which would make every object "large".
   */
  public enum AreaSource {
    /** The {@code area} field as written: exactly what pycocotools does. */
    FIELD,
    /** Width × height of the box. */
    BBOX,
    /**
     * The field when it is present, positive and no larger than the box (a mask's area never exceeds its box's);
     * otherwise width × height. Equal to FIELD on well-formed files.
     */
    AUTO;

    /** The area to use for a box with this {@code field} value (null when the file has none). */
    public double area(Double field, double width, double height) {
      double box = width * height;
      return switch (this) {
        case FIELD -> field == null ? box : field;
        case BBOX -> box;
        case AUTO -> field != null && field > 0 && field <= box * (1 + 1e-9) ? field : box;
      };
    }
  }
}
