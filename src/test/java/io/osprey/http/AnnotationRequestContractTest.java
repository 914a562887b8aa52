package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The annotation routes' bodies and parameters are checked against openapi.yaml: names and enum values in any case
 * (as the original service's clients send them), fields the schema does not name kept, problems named by field.
 */
@UnitTest
class AnnotationRequestContractTest {
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

  private static Map<String, String> problems(String op, JsonObject body) {
    return contract.checkBody(op, body).problems().stream()
        .collect(Collectors.toMap(RequestContract.Problem::field, RequestContract.Problem::message));
  }

  private static JsonObject box(double cx) {
    return new JsonObject().put("classNum", 1).put("centerX", cx).put("centerY", 0.5).put("width", 0.1)
        .put("height", 0.1);
  }

  @Test
  void aWrongTypeInADatasetStatusBodyIsNamed() {
    Map<String, String> p = problems("setAnnotationStatus", new JsonObject().put("status", true));
    assertEquals(List.of("status"), List.copyOf(p.keySet()));
    assertTrue(p.get("status").startsWith("must be one of Created, Edited, Validated, Deleted"), p.toString());
    Map<String, String> bulk = problems("bulkSetAnnotationStatus", new JsonObject().put("annotationIds", "x")
        .put("status", "Shiny"));
    assertEquals(Set.of("annotationIds", "status"), bulk.keySet());
    assertEquals("must be an array (got string)", bulk.get("annotationIds"));
    assertEquals(Map.of("annotationIds", "is required"), problems("bulkSetAnnotationStatus",
        new JsonObject().put("status", 30)));
  }

  @Test
  void statusNamesMatchInAnyCaseAndAreSpelledAsDocumented() {
    RequestContract.CheckedBody c = contract.checkBody("bulkSetAnnotationStatus", new JsonObject()
        .put("AnnotationIds", new JsonArray().add("a").add(7)).put("STATUS", " validated "));
    assertEquals(List.of(), c.problems());
    assertEquals(new JsonObject().put("annotationIds", new JsonArray().add("a").add(7)).put("status", "Validated"),
        c.body());
    assertEquals(List.of(), contract.check("setAnnotationStatus", new JsonObject().put("status", 40)));
    assertEquals(List.of(), contract.check("setAnnotationStatus", new JsonObject().put("status", "20")));
    assertEquals(List.of("status"), contract.check("setAnnotationStatus", new JsonObject().put("status", 25))
        .stream().map(RequestContract.Problem::field).toList());
  }

  @Test
  void createBodiesBindCaseInsensitivelyAndKeepFieldsTheSchemaDoesNotName() {
    RequestContract.CheckedBody c = contract.checkBody("createAnnotation", new JsonObject()
        .put("FlightId", "f1").put("Source", "ai").put("confidenceModel", "v3").putNull("name")
        .put("Detections", new JsonArray().add(new JsonObject().put("ClassNum", 2).put("CenterX", 0.5)
            .put("centerY", 0.5).put("WIDTH", 0.1).put("height", 0.1).put("trackId", 9))));
    assertEquals(List.of(), c.problems());
    JsonObject b = (JsonObject) c.body();
    assertEquals("f1", b.getString("flightId"));
    assertEquals("AI", b.getString("source"));
    assertEquals("v3", b.getString("confidenceModel"), "a field the schema does not name is kept");
    assertEquals(0.1, b.getJsonArray("detections").getJsonObject(0).getDouble("width"));
    assertEquals(9, b.getJsonArray("detections").getJsonObject(0).getInteger("trackId"));
  }

  @Test
  void everyBadDetectionFieldIsNamed() {
    Map<String, String> p = problems("createAnnotation", new JsonObject().put("image", "AAAA")
        .put("source", "robot").put("name", "n".repeat(1001))
        .put("detections", new JsonArray().add(box(1.5).put("width", -1)).add("x").add(box(0.5).put("height", 0)
            .putNull("classNum"))));
    assertEquals(Set.of("source", "name", "detections[0].centerX", "detections[0].width", "detections[1]",
        "detections[2].height", "detections[2].classNum"), p.keySet(), p.toString());
    assertEquals("must be an object (got string)", p.get("detections[1]"));
  }

  @Test
  void editNeedsDetectionsAndClassAndSettingsBodiesAreChecked() {
    assertEquals(Map.of("detections", "is required"), problems("updateAnnotation", new JsonObject()));
    assertEquals(Map.of(), problems("updateAnnotation", new JsonObject().putNull("Detections")));
    Map<String, String> dirs = problems("updateDirectories", new JsonObject().put("moviesDir", "x")
        .put("ImagesDir", " "));
    assertEquals(Set.of("moviesDir", "imagesDir"), dirs.keySet(), dirs.toString());
    assertTrue(dirs.get("moviesDir").contains("not a known field"));
    assertEquals(Set.of("body"), problems("updateDirectories", new JsonObject()).keySet());
    Map<String, String> cls = problems("createClass", new JsonObject().put("ID", -1).put("color", "green"));
    assertEquals(Set.of("id", "name", "color"), cls.keySet(), cls.toString());
    assertEquals(Map.of(), problems("updateClass", new JsonObject().put("Name", "car").putNull("color")));
  }

  @Test
  void aBadEnumInAListFilterAndBadPagingAreNamed() {
    MultiMap q = MultiMap.caseInsensitiveMultiMap().add("STATUS", "validated,Shiny").add("pageSize", "0")
        .add("page", "x").add("classNum", "99999999999").add("flightId", "f1");
    RequestContract.CheckedQuery c = contract.checkQuery("listAnnotations", q);
    Map<String, String> p = c.problems().stream()
        .collect(Collectors.toMap(RequestContract.Problem::field, RequestContract.Problem::message));
    assertEquals(Set.of("status[1]", "pageSize", "page", "classNum"), p.keySet(), p.toString());
    assertTrue(p.get("status[1]").startsWith("must be one of Created"), p.toString());
    assertEquals("must be a whole number (got 'x')", p.get("page"));

    RequestContract.CheckedQuery ok = contract.checkQuery("listAnnotations", MultiMap.caseInsensitiveMultiMap()
        .add("status", "validated, 10").add("PAGESIZE", "50").add("from", " ").add("flightid", "f1"));
    assertEquals(List.of(), ok.problems());
    assertEquals(List.of("Validated", "10"), ok.list("status"));
    assertEquals(50L, ok.integer("pageSize"));
    assertEquals("f1", ok.string("flightId"));
    assertEquals(null, ok.string("from"), "a blank parameter is absent");
  }

  @Test
  void malformedPathIdsAreProblemsTheRouteAnswersAsNotFound() {
    assertEquals(List.of(), contract.checkPath("getAnnotation", n -> "0123456789abcdef0123456789abcdef"));
    assertEquals(List.of("id"), contract.checkPath("getAnnotation", n -> "0123456789ABCDEF0123456789ABCDEF")
        .stream().map(RequestContract.Problem::field).toList());
    assertEquals(List.of("id"), contract.checkPath("deleteClass", n -> "-1").stream()
        .map(RequestContract.Problem::field).toList());
    assertEquals(List.of("id"), contract.checkPath("deleteClass", n -> "nine").stream()
        .map(RequestContract.Problem::field).toList());
    assertEquals(List.of(), contract.checkPath("deleteClass", n -> "12"));
  }

  @Test
  void oversizedListsAndFloodsOfUnknownFieldsAreRefusedWithoutValidatingTheirContent() {
    JsonArray many = new JsonArray();
    for (int i = 0; i < 100_000; i++) {
      many.add(new JsonObject().put("classNum", "not a number"));
    }
    JsonObject keys = new JsonObject();
    for (int i = 0; i < 50_000; i++) {
      keys.put("k" + i, i);
    }
    Map<String, String> p = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
        java.time.Duration.ofSeconds(5), () -> problems("createAnnotation", new JsonObject().put("detections", many)));
    assertEquals(Map.of("detections", "holds 100000 items; at most 10000"), p);
    List<RequestContract.Problem> unknown = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
        java.time.Duration.ofSeconds(5), () -> contract.check("updateDirectories", keys));
    assertEquals(50_000, unknown.size());
    assertTrue(unknown.get(0).message().contains("not a known field"), unknown.get(0).toString());
  }
}
