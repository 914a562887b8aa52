package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** On real aerial photos, slicing finds the small objects a single full-image pass misses. */
@IntegrationTest
class SlicingPayoffTest {
  private static final Set<String> VEHICLES = Set.of("car", "truck", "bus");

  @BeforeAll
  static void present() {
    Models.assumePresent();
  }

  private static long count(List<Detection> detections, Set<String> classes) {
    return detections.stream().filter(d -> classes.contains(d.className())).count();
  }

  @Test
  void smallVehiclesWith512SlicesFindAtLeastTwentyCars() throws Exception {
    Path image = Fixtures.imagesDir().resolve("small-vehicles1.jpeg");
    try (DetectionEngine engine = Models.engine("yolov8n_int8")) {
      DetectionParams sliced = DetectionParams.defaults().withSlices(512, 512, 0.2, 0.2);
      ImageDetections withSlices = engine.detect(image, sliced);
      ImageDetections fullOnly = engine.detect(image, DetectionParams.defaults().fullImageOnly());
      long slicedCars = count(withSlices.detections(), Set.of("car"));
      long fullCars = count(fullOnly.detections(), Set.of("car"));
      System.out.printf("[payoff] small-vehicles1: %d cars with 512 slices (%d tiles), %d full image%n",
          slicedCars, withSlices.tiles(), fullCars);
      assertTrue(slicedCars >= 20, "sliced found only " + slicedCars + " cars");
      assertTrue(fullCars <= 15, "the full image alone should find about 12 cars, found " + fullCars);
      assertEquals(7, withSlices.tiles(), "6 slices of 512 at 0.2 overlap plus the full-image pass");
    }
  }

  @Test
  void terrain1FindsAllSevenAnnotatedHumans() throws Exception {
    assertEquals(7, matched("terrain1.jpg", "terrain1_coco.json", Set.of("person"), 7));
  }

  @Test
  void terrain2FindsAllFiveAnnotatedCars() throws Exception {
    assertEquals(5, matched("terrain2.png", "terrain2_coco.json", VEHICLES, 5));
  }

  /** Greedy one-to-one matching of ground-truth boxes to detections of the given classes at IoU >= 0.5. */
  private static int matched(String imageName, String cocoName, Set<String> classes, int expectedTruth)
      throws Exception {
    JsonObject coco = new JsonObject(Files.readString(Fixtures.imagesDir().resolve(cocoName)));
    JsonArray annotations = coco.getJsonArray("annotations");
    assertEquals(expectedTruth, annotations.size());
    List<Detection> found;
    try (DetectionEngine engine = Models.engine("yolov8n_int8")) {
      found = new ArrayList<>(engine.detect(Fixtures.imagesDir().resolve(imageName), DetectionParams.defaults())
          .detections().stream().filter(d -> classes.contains(d.className())).toList());
    }
    int hits = 0;
    for (int i = 0; i < annotations.size(); i++) {
      JsonArray b = annotations.getJsonObject(i).getJsonArray("bbox");
      Detection truth = new Detection(0, "truth", 1f, b.getFloat(0), b.getFloat(1),
          b.getFloat(0) + b.getFloat(2), b.getFloat(1) + b.getFloat(3));
      Detection best = null;
      double bestIou = 0.5;
      for (Detection d : found) {
        double iou = Boxes.iou(d, truth);
        if (iou >= bestIou) {
          best = d;
          bestIou = iou;
        }
      }
      if (best != null) {
        found.remove(best);
        hits++;
      }
    }
    System.out.printf("[payoff] %s: %d/%d annotated objects found at IoU >= 0.5%n", imageName, hits,
        annotations.size());
    return hits;
  }
}
