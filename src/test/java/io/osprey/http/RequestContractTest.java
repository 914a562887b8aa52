package io.osprey.http;

import io.osprey.testing.UnitTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Request bodies are checked against openapi.yaml, with problems named in the service's field notation. */
@UnitTest
class RequestContractTest {
  private static final String UPLOAD = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
  private static Vertx vertx;
  private static RequestContract contract;

  @BeforeAll
  static void load() throws Exception {
    vertx = Vertx.vertx();
    contract = RequestContract.load(vertx).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  @AfterAll
  static void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static Map<String, String> problems(JsonObject config) {
    return contract.check("predict", new JsonObject().put("upload_id", UPLOAD).put("config", config)).stream()
        .collect(Collectors.toMap(RequestContract.Problem::field, RequestContract.Problem::message));
  }

  @Test
  void misspelledConfigFieldIsNamedAsUnknown() {
    Map<String, String> p = problems(new JsonObject().put("confidance", 0.3));
    assertEquals(List.of("config.confidance"), List.copyOf(p.keySet()));
    assertTrue(p.get("config.confidance").contains("not a known field"), p.toString());
  }

  @Test
  void unknownFieldsAreFoundInNestedObjectsToo() {
    Map<String, String> p = problems(new JsonObject()
        .put("sahi", new JsonObject().put("slice_widht", 512))
        .put("symbolic", new JsonObject().put("enabled", true).put("ruleset", "size_limits")));
    assertEquals(Map.of("config.sahi.slice_widht", p.get("config.sahi.slice_widht"),
        "config.symbolic.ruleset", p.get("config.symbolic.ruleset")), p);
  }

  @Test
  void everyBadValueIsReportedOnceUnderItsOwnField() {
    Map<String, String> p = problems(new JsonObject().put("confidence", 2).put("nms_iou", 0)
        .put("classes", new JsonArray().add(true))
        .put("sahi", new JsonObject().put("slice_width", 10))
        .put("symbolic", new JsonObject().put("params", new JsonObject().put("a", new JsonObject()))
            .put("image_metadata", new JsonObject().put("f", 3))));
    assertEquals(List.of("config.classes[0]", "config.confidence", "config.nms_iou", "config.sahi.slice_width",
        "config.symbolic.image_metadata.f", "config.symbolic.params.a"), p.keySet().stream().sorted().toList());
    assertEquals("must be an object (got number)", p.get("config.symbolic.image_metadata.f"));
  }

  @Test
  void nullCountsAsAbsentAndEveryDocumentedFieldIsAccepted() {
    JsonObject all = new JsonObject().put("model", "m").put("confidence", 0.3).put("nms_iou", 0.5)
        .put("min_box_area", 4).put("classes", new JsonArray().add("car").add(2))
        .put("exclude_classes", new JsonArray().add("person")).put("visualization", false)
        .put("sahi", new JsonObject().put("enabled", true).put("slice_height", 512).put("slice_width", 512)
            .put("overlap_height_ratio", 0.1).put("overlap_width_ratio", 0.1).put("perform_standard_pred", false)
            .put("postprocess_type", "nms").put("postprocess_match_metric", "iou")
            .put("postprocess_match_threshold", 0.4).put("postprocess_class_agnostic", true))
        .put("symbolic", new JsonObject().put("enabled", true).put("rule_set", "size_limits")
            .put("params", new JsonObject().put("size_margin", 1.2))
            .put("metadata", new JsonObject().put("gsd", 0.05).put("time_of_day", "noon").put("night", false))
            .put("image_metadata", new JsonObject().put(UPLOAD, new JsonObject().put("gsd", 0.08))))
        .put("create_annotations", true).put("flight_id", "F1").put("waypoint_id", "W1");
    assertEquals(Map.of(), problems(all));
    JsonObject nulls = new JsonObject();
    all.fieldNames().forEach(f -> nulls.putNull(f));
    assertEquals(Map.of(), problems(nulls));
    assertEquals(List.of(), contract.check("predict", new JsonObject().put("upload_id", UPLOAD).putNull("config")
        .putNull("file_ids")));
    assertEquals(List.of(new RequestContract.Problem("config", "must be an object (got string)")),
        contract.check("predict", new JsonObject().put("upload_id", UPLOAD).put("config", "fast")));
  }

  @Test
  void missingAndMalformedTopLevelFieldsAreNamed() {
    List<RequestContract.Problem> p = contract.check("predict",
        new JsonObject().put("file_ids", new JsonArray().add("x").add(3)));
    assertEquals(List.of("upload_id", "file_ids[0]", "file_ids[1]"),
        p.stream().map(RequestContract.Problem::field).toList());
    assertEquals("must be a string (got number)", p.get(2).message());
  }

  @Test
  void aBodyOfManyBadFieldsIsCheckedInLinearTime() {
    // A 1 MiB predict body can hold tens of thousands of bad facts; each is one problem, found without comparing
    // every problem with every other.
    JsonObject params = new JsonObject();
    for (int i = 0; i < 40_000; i++) {
      params.put("k" + i, new JsonObject());
    }
    Map<String, String> p = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
        java.time.Duration.ofSeconds(20), () -> problems(new JsonObject().put("symbolic", new JsonObject()
            .put("params", params))));
    assertEquals(40_000, p.size());
    assertTrue(p.keySet().stream().allMatch(f -> f.startsWith("config.symbolic.params.k")));
  }

  @Test
  void anOperationWithoutAJsonBodyIsAProgrammingError() {
    assertThrows(IllegalArgumentException.class, () -> contract.check("jobStatus", new JsonObject()));
  }
}
