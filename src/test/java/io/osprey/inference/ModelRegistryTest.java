package io.osprey.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@IntegrationTest
class ModelRegistryTest {
  @TempDir
  Path dir;

  @Test
  void allFiveSharedModelsLoadWithTheirLayoutInputAndNames() throws Exception {
    ModelRegistry registry = Models.registry();
    assertTrue(registry.available().containsAll(List.of("yolov8n_int8", "yolo11n_int8_320", "yolov5n_int8",
        "yolo26n_int8_end2end", "yolox_nano")), registry.available().toString());
    Map<String, Object[]> expected = Map.of(
        "yolov8n_int8", new Object[] {ModelLayout.YOLOV8, 640},
        "yolo11n_int8_320", new Object[] {ModelLayout.YOLOV8, 320},
        "yolov5n_int8", new Object[] {ModelLayout.YOLOV5, 640},
        "yolo26n_int8_end2end", new Object[] {ModelLayout.END2END, 640},
        "yolox_nano", new Object[] {ModelLayout.YOLOX, 416});
    for (var e : expected.entrySet()) {
      OnnxModel model = registry.get(e.getKey());
      assertEquals(e.getValue()[0], model.layout(), e.getKey());
      assertEquals(e.getValue()[1], model.inputWidth(), e.getKey());
      assertEquals(80, model.classNames().size(), e.getKey());
      assertEquals("person", model.classNames().get(0), e.getKey());
      assertEquals("toothbrush", model.classNames().get(79), e.getKey());
    }
    assertEquals("output", registry.get("yolov5n_int8").outputName());
    assertSame(registry.get("yolov8n_int8"), registry.get(null), "null names the default model, loaded once");
  }

  @Test
  void missingModelIsModelLoadErrorNamingThePath() throws Exception {
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 1, 1), dir, "nope");
    InferenceException e = assertThrows(InferenceException.class, () -> registry.get(null));
    assertEquals(InferenceException.Code.MODEL_LOAD_ERROR, e.code());
    assertTrue(e.getMessage().contains(dir.resolve("nope.onnx").toString()), e.getMessage());
  }

  @Test
  void unreadableModelIsModelLoadErrorWithTheReason() throws Exception {
    Files.writeString(dir.resolve("broken.onnx"), "this is not a protobuf");
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 1, 1), dir, "broken");
    InferenceException e = assertThrows(InferenceException.class, () -> registry.get("broken"));
    assertEquals(InferenceException.Code.MODEL_LOAD_ERROR, e.code());
    assertTrue(e.getMessage().contains("broken.onnx") && e.getMessage().contains("cannot be loaded"),
        e.getMessage());
  }

  @Test
  void namesWithPathPartsAreRefused() throws Exception {
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 1, 1), dir, "x");
    InferenceException e = assertThrows(InferenceException.class, () -> registry.get("../../etc/passwd"));
    assertEquals(InferenceException.Code.MODEL_LOAD_ERROR, e.code());
    assertTrue(!registry.exists("../x"));
  }

  @Test
  void ultralyticsNamesMetadataIsParsedWithEitherQuote() throws Exception {
    List<String> names = OnnxModel.classNames(dir.resolve("m.onnx"),
        Map.of("names", "{0: 'person', 1: \"o'clock\", 2: 'car'}"), 3);
    assertEquals(List.of("person", "o'clock", "car"), names);
  }

  @Test
  void namesFileBesideTheModelIsUsedWhenMetadataHasNone() throws Exception {
    Files.writeString(dir.resolve("m.names"), "plane\nship\n");
    assertEquals(List.of("plane", "ship"), OnnxModel.classNames(dir.resolve("m.onnx"), Map.of(), 2));
    assertEquals(List.of("class_0", "class_1", "class_2"),
        OnnxModel.classNames(dir.resolve("other.onnx"), Map.of(), 3));
  }

  @Test
  void unknownOutputShapeIsRefusedWithTheShapesItKnows() {
    InferenceException e = assertThrows(InferenceException.class,
        () -> OnnxModel.layout(dir.resolve("m.onnx"), 7, 11, 640, 640, Map.of()));
    assertTrue(e.getMessage().contains("matches no known detector layout"), e.getMessage());
  }

  @Test
  void classFilterAcceptsNamesAndIdsAndRejectsUnknownNames() {
    List<String> names = List.of("person", "car", "truck");
    var only = ClassFilter.of(List.of("car", "2"), List.of(), names);
    assertTrue(!only.test(0) && only.test(1) && only.test(2));
    var except = ClassFilter.of(List.of(), List.of("Person"), names);
    assertTrue(!except.test(0) && except.test(1));
    assertThrows(IllegalArgumentException.class, () -> ClassFilter.of(List.of("horse"), List.of(), names));
  }
}
