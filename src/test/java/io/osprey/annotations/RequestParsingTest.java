package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Status names and numbers, and detection validation, as the .NET clients send them. */
@UnitTest
class RequestParsingTest {
  @Test
  void statusAcceptsNamesInAnyCaseAndTheOriginalNumbers() {
    assertEquals(AnnotationStatus.VALIDATED, AnnotationStatus.parse("validated"));
    assertEquals(AnnotationStatus.VALIDATED, AnnotationStatus.parse(30));
    assertEquals(AnnotationStatus.DELETED, AnnotationStatus.parse("40"));
    assertEquals(AnnotationStatus.EDITED, AnnotationStatus.parse("Edited"));
    assertNull(AnnotationStatus.parse(25));
    assertNull(AnnotationStatus.parse("Archived"));
    assertNull(AnnotationStatus.parse(30.5));
    assertNull(AnnotationStatus.parse(null));
    assertEquals("Validated", AnnotationStatus.Operation.VALIDATED);
    assertEquals(AnnotationStatus.Operation.STATUS_CHANGED, AnnotationStatus.EDITED.operationOfChange());
  }

  @Test
  void detectionsBindCaseInsensitivelyAndTakeMissingLabelsFromTheCatalog() {
    List<String> errors = new ArrayList<>();
    JsonArray raw = new JsonArray().add(new JsonObject().put("ClassNum", 2).put("CenterX", 0.5).put("CenterY", 0.25)
        .put("Width", 0.1).put("Height", 0.2));
    List<Detection> d = Detection.parse(raw, cls -> cls == 2 ? "car" : null, errors);
    assertEquals(List.of(), errors);
    assertEquals(new Detection(2, "car", 0.5, 0.25, 0.1, 0.2, 1.0), d.get(0));
    assertEquals("2 0.500000 0.250000 0.100000 0.200000", d.get(0).yoloLine());
  }

  @Test
  void everyBadDetectionFieldIsReportedByName() {
    List<String> errors = new ArrayList<>();
    JsonArray raw = new JsonArray()
        .add(new JsonObject().put("classNum", -1).put("centerX", 1.2).put("centerY", "x").put("width", 0.1))
        .add("not an object")
        .add(new JsonObject().put("classNum", 9).put("centerX", 0.5).put("centerY", 0.5).put("width", 0)
            .put("height", 0.1).put("label", "tree"));
    List<Detection> d = Detection.parse(raw, cls -> null, errors);
    assertTrue(d.isEmpty());
    assertEquals(List.of("detections[0].classNum: must be a whole number >= 0",
        "detections[0].centerX: must be a number from 0 to 1", "detections[0].centerY: must be a number from 0 to 1",
        "detections[0].height: required", "detections[1]: must be an object",
        "detections[2]: width and height must be greater than 0"), errors);
    List<String> unlabeled = new ArrayList<>();
    Detection.parse(new JsonArray().add(new JsonObject().put("classNum", 4).put("centerX", 0.5).put("centerY", 0.5)
        .put("width", 0.1).put("height", 0.1)), cls -> null, unlabeled);
    assertEquals(List.of("detections[0].label: required (class 4 is not in the class catalog)"), unlabeled);
  }
}
