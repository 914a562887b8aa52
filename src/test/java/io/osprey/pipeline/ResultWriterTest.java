package io.osprey.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.osprey.inference.Detection;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The result files of one image, written without Vert.x: the same bytes the results API and the exports have
 * always read (the expected JSON is built here with Vert.x's own classes, as the writer once did).
 */
@UnitTest
class ResultWriterTest {
  @TempDir
  Path storage;

  private static final Detection CAR = new Detection(2, "car", 0.87654f, 10.26f, 20.5f, 110.04f, 70.75f);
  private static final Detection BUS = new Detection(5, "bus \"double\"", 0.5f, 0f, 0f, 640f, 480f);
  private static final Detection TREE = new Detection(2, "car", 0.31f, 300f, 300f, 302f, 301f);

  private static JsonObject expected(Detection d, int width, int height) {
    return new JsonObject()
        .put("class_id", d.classId())
        .put("class_name", d.className())
        .put("confidence", round(d.score(), 4))
        .put("bbox", new JsonObject()
            .put("x1", round(d.x1(), 1)).put("y1", round(d.y1(), 1))
            .put("x2", round(d.x2(), 1)).put("y2", round(d.y2(), 1))
            .put("width", round(d.width(), 1)).put("height", round(d.height(), 1)))
        .put("bbox_normalized", new JsonObject()
            .put("x_center", round((d.x1() + d.x2()) / 2 / width, 6))
            .put("y_center", round((d.y1() + d.y2()) / 2 / height, 6))
            .put("width", round(d.width() / width, 6))
            .put("height", round(d.height() / height, 6)));
  }

  private static double round(double v, int places) {
    double f = Math.pow(10, places);
    return Math.round(v * f) / f;
  }

  @Test
  void detectionsAreWrittenAsTheResultsApiReadsThemByteForByte() throws Exception {
    StorageLayout layout = new StorageLayout(storage);
    new ResultWriter(layout, 64, 80).write("job", "f1", 640, 480, List.of(CAR, BUS), null, null, false);

    String json = Files.readString(layout.detections("job", "f1"));
    assertEquals(new JsonArray().add(expected(CAR, 640, 480)).add(expected(BUS, 640, 480)).encode(), json);
    assertEquals(List.of("2 0.093984 0.095052 0.155906 0.104687 0.876540",
        "5 0.500000 0.500000 1.000000 1.000000 0.500000"), Files.readAllLines(layout.predictions("job", "f1")));
    assertFalse(Files.exists(layout.suppressed("job", "f1")));
    assertFalse(Files.exists(layout.annotated("job", "f1")), "no images unless asked");
  }

  @Test
  void rulesNotesAndSuppressedBoxesAreWrittenWithTheirReasons() throws Exception {
    StorageLayout layout = new StorageLayout(storage);
    RulesStage.Outcome outcome = new RulesStage.Outcome("size_limits", List.of(CAR),
        List.of(List.of(new RulesStage.Note("adjust", null, 0.8765, 0.95), new RulesStage.Note("relabel", null,
            "truck", "car"))), List.of(TREE), List.of("too_small"));
    new ResultWriter(layout, 64, 80).write("job", "f2", 640, 480, List.of(CAR), outcome, null, false);

    JsonObject car = expected(CAR, 640, 480).put("rules", new JsonArray()
        .add(new JsonObject().put("rule_set", "size_limits").put("action", "adjust").put("from", 0.8765)
            .put("to", 0.95))
        .add(new JsonObject().put("rule_set", "size_limits").put("action", "relabel").put("from", "truck")
            .put("to", "car")));
    assertEquals(new JsonArray().add(car).encode(), Files.readString(layout.detections("job", "f2")));
    JsonObject tree = expected(TREE, 640, 480).put("suppressed_by", new JsonObject().put("rule_set", "size_limits")
        .put("reason", "too_small"));
    assertEquals(new JsonArray().add(tree).encode(), Files.readString(layout.suppressed("job", "f2")));
  }

  @Test
  void anImageWithNothingFoundGetsEmptyFilesNotMissingOnes() throws Exception {
    StorageLayout layout = new StorageLayout(storage);
    new ResultWriter(layout, 64, 80).write("job", "f3", 640, 480, List.of(), null, null, false);
    assertEquals("[]", Files.readString(layout.detections("job", "f3")));
    assertEquals("", Files.readString(layout.predictions("job", "f3")));
  }
}
