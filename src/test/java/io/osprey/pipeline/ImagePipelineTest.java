package io.osprey.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.imaging.ImageBudget;
import io.osprey.imaging.ImageInspector;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.InferenceException;
import io.osprey.inference.OnnxModel;
import io.osprey.rules.RuleSets;
import io.osprey.rules.RulesStage;
import io.osprey.storage.StorageLayout;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job pipeline on its own, with a real model and real photos, and no Vert.x instance, server or database:
 * what it stores under results/ and what it hands back for the runner to record. (Vert.x's JSON classes only read
 * the written files here.) Integration-tagged because it loads a model.
 */
@IntegrationTest
class ImagePipelineTest {
  private static final Path BUS = Fixtures.imagesDir().resolve("bus.jpg");

  @TempDir
  Path storage;
  private StorageLayout layout;
  private ImagePipeline pipeline;
  private OnnxModel model;

  @BeforeEach
  void setUp() throws Exception {
    model = Models.registry().get("yolov8n_int8");
    layout = new StorageLayout(storage);
    pipeline = pipeline(new ImageBudget(100_000_000L, 200_000_000L));
  }

  @AfterEach
  void tearDown() {
    pipeline.close();
  }

  private ImagePipeline pipeline(ImageBudget budget) {
    return new ImagePipeline(new RulesStage(new RuleSets(Path.of("conf", "rules")), 2000),
        new ResultWriter(layout, 128, 85), budget, 8, false);
  }

  private static ImagePipeline.Request request(String jobId, Path image, ImagePipeline.Rules rules,
                                               boolean visualize, boolean keepBoxes) {
    return new ImagePipeline.Request(jobId, "file-1", image, image.getFileName().toString(),
        DetectionParams.defaults(), rules, visualize, keepBoxes);
  }

  @Test
  void aPhotoIsDetectedOnAndItsResultFilesAgreeWithWhatTheRunnerRecords() throws Exception {
    ImagePipeline.Result result = pipeline.process(model, request("job-a", BUS, null, true, true));

    ImageInspector.Result header = ImageInspector.inspect(BUS, "bus.jpg");
    assertEquals(header.width(), result.width());
    assertEquals(header.height(), result.height());
    assertEquals("cpu", result.device());
    assertTrue(result.annotated());
    assertTrue(result.detections() > 0, "bus.jpg shows a bus and people");

    JsonArray json = new JsonArray(Files.readString(layout.detections("job-a", "file-1")));
    assertEquals(result.detections(), json.size());
    List<String> labels = Files.readAllLines(layout.predictions("job-a", "file-1"));
    assertEquals(result.detections(), labels.size());
    double mean = json.stream().map(JsonObject.class::cast).mapToDouble(d -> d.getDouble("confidence"))
        .average().orElseThrow();
    assertNotNull(result.meanConfidence());
    assertEquals(mean, result.meanConfidence(), 1e-3, "the mean of the stored confidences");
    assertTrue(Files.size(layout.annotated("job-a", "file-1")) > 0);
    assertTrue(Files.size(layout.thumbnail("job-a", "file-1")) > 0);
    assertFalse(Files.exists(layout.suppressed("job-a", "file-1")), "no rules stage, no suppressed file");

    // The boxes an annotation gets: the stored boxes as fractions of the image, in the same order.
    assertEquals(result.detections(), result.boxes().size());
    for (int i = 0; i < json.size(); i++) {
      JsonObject stored = json.getJsonObject(i);
      ImagePipeline.Box box = result.boxes().get(i);
      JsonObject normalized = stored.getJsonObject("bbox_normalized");
      assertEquals(stored.getInteger("class_id"), box.classId());
      assertEquals(stored.getString("class_name"), box.className());
      assertEquals(stored.getDouble("confidence"), box.confidence(), 1e-9);
      assertEquals(normalized.getDouble("x_center"), box.centerX(), 1e-5);
      assertEquals(normalized.getDouble("width"), box.width(), 1e-5);
      assertTrue(box.centerY() > 0 && box.centerY() < 1 && box.height() > 0 && box.height() <= 1);
    }
  }

  @Test
  void withoutVisualizationOrAnnotationsNoImagesAreWrittenAndNoBoxesHandedBack() throws Exception {
    ImagePipeline.Result result = pipeline.process(model, request("job-b", BUS, null, false, false));
    assertTrue(result.detections() > 0);
    assertFalse(result.annotated());
    assertEquals(List.of(), result.boxes());
    assertTrue(Files.exists(layout.detections("job-b", "file-1")));
    assertFalse(Files.exists(layout.annotated("job-b", "file-1")));
    assertFalse(Files.exists(layout.thumbnail("job-b", "file-1")));
  }

  @Test
  void theRulesStageRunsBetweenDetectionAndTheFilesAndItsSuppressionsAreKeptAside() throws Exception {
    ImagePipeline.Result plain = pipeline.process(model, request("job-plain", BUS, null, false, false));
    // At 1 m per pixel every person and the bus are far too large: size_limits suppresses them all.
    ImagePipeline.Result ruled = pipeline.process(model, request("job-ruled", BUS,
        new ImagePipeline.Rules("size_limits", Map.of("gsd", 1.0), Map.of()), false, false));

    JsonArray suppressed = new JsonArray(Files.readString(layout.suppressed("job-ruled", "file-1")));
    assertTrue(suppressed.size() > 0);
    assertEquals(plain.detections(), ruled.detections() + suppressed.size(), "each box kept or set aside");
    JsonObject by = suppressed.getJsonObject(0).getJsonObject("suppressed_by");
    assertEquals("size_limits", by.getString("rule_set"));
    assertEquals("too_large", by.getString("reason"));
    JsonArray kept = new JsonArray(Files.readString(layout.detections("job-ruled", "file-1")));
    assertEquals(ruled.detections(), kept.size());
    kept.forEach(d -> assertNotNull(((JsonObject) d).getJsonArray("rules"), "kept boxes carry their notes"));
  }

  @Test
  void aFileOverThePixelBudgetFailsBeforeDecodingAndWritesNothing() throws Exception {
    try (ImagePipeline small = pipeline(new ImageBudget(10_000, 10_000))) {
      InferenceException e = assertThrows(InferenceException.class,
          () -> small.process(model, request("job-c", BUS, null, true, false)));
      assertEquals(InferenceException.Code.INVALID_DIMENSIONS, e.code());
      assertTrue(e.getMessage().contains("bus.jpg"), e.getMessage());
    }
    assertFalse(Files.exists(layout.resultsDir("job-c")));
  }

  @Test
  void aMissingOrBrokenFileFailsWithItsOwnCode() throws Exception {
    InferenceException missing = assertThrows(InferenceException.class,
        () -> pipeline.process(model, request("job-d", storage.resolve("gone.jpg"), null, false, false)));
    assertEquals(InferenceException.Code.FILE_NOT_FOUND, missing.code());

    byte[] jpeg = Files.readAllBytes(BUS);
    Path truncated = Files.write(storage.resolve("truncated.jpg"), java.util.Arrays.copyOf(jpeg, 600));
    InferenceException broken = assertThrows(InferenceException.class,
        () -> pipeline.process(model, request("job-d", truncated, null, false, false)));
    assertEquals(InferenceException.Code.CORRUPTED_FILE, broken.code());
    assertFalse(Files.exists(layout.resultsDir("job-d")));
  }

  @Test
  void aFailingRuleSetFailsTheImageWithRulesError() throws Exception {
    InferenceException e = assertThrows(InferenceException.class, () -> pipeline.process(model,
        request("job-e", BUS, new ImagePipeline.Rules("no_such_rules", Map.of(), Map.of()), false, false)));
    assertEquals(InferenceException.Code.RULES_ERROR, e.code());
    assertFalse(Files.exists(layout.detections("job-e", "file-1")), "nothing stored for a failed image");
  }
}
