package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.OnnxModel;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /api/v1/models} and {@code GET /api/v1/rule-sets} on an API-only process (no ONNX Runtime there): the
 * models as the engine itself sees them when it loads them, a file that is no detector listed with its reason, and
 * the rule sets of the folder with the first paragraph of their comment.
 */
@IntegrationTest
class CatalogApiTest {
  private static TestService service;
  private static Path models;
  private static Path rules;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    // The shared models (linked, not copied), a file that is not a model, and a .names file beside them.
    models = Files.createTempDirectory("osprey-catalog-models-");
    try (Stream<Path> files = Files.list(Models.dir())) {
      for (Path f : files.filter(p -> p.toString().endsWith(".onnx") || p.toString().endsWith(".names")).toList()) {
        Files.createSymbolicLink(models.resolve(f.getFileName()), f.toAbsolutePath());
      }
    }
    Files.writeString(models.resolve("notes.onnx"), "this is not a protobuf message at all");
    rules = Files.createTempDirectory("osprey-catalog-rules-");
    try (Stream<Path> files = Files.list(Path.of("conf", "rules"))) {
      for (Path f : files.toList()) {
        Files.copy(f, rules.resolve(f.getFileName()));
      }
    }
    Files.writeString(rules.resolve("bare.pl"), "suppress(Id, bare) :- detection(Id, kite, _, _, _, _, _).\n");
    service = TestService.start(CatalogApiTest.class, Role.API, new JsonObject()
        .put("models", new JsonObject().put("dir", models.toString()).put("default", "yolov8n_int8"))
        .put("rules", new JsonObject().put("dir", rules.toString())));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void modelsAreListedAsTheEngineSeesThemWhenItLoadsThem() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/api/v1/models");
    assertEquals(200, r.status(), r.body());
    JsonObject body = r.json();
    assertEquals("yolov8n_int8", body.getString("default_model"));
    Map<String, JsonObject> byName = body.getJsonArray("models").stream().map(JsonObject.class::cast)
        .collect(Collectors.toMap(m -> m.getString("name"), m -> m));
    ModelRegistry loaded = Models.registry();
    List<String> expected = new ArrayList<>(loaded.available());
    expected.add("notes");
    assertEquals(expected.stream().sorted().toList(), body.getJsonArray("models").stream()
        .map(m -> ((JsonObject) m).getString("name")).toList(), "every .onnx file, sorted");
    for (String name : loaded.available()) {
      OnnxModel model = loaded.get(name);
      JsonObject listed = byName.get(name);
      assertEquals(model.layout().name().toLowerCase(), listed.getString("layout"), name);
      assertEquals(model.inputWidth(), listed.getInteger("input_width"), name);
      assertEquals(model.inputHeight(), listed.getInteger("input_height"), name);
      assertEquals(model.classNames(), listed.getJsonArray("classes").getList(), name);
      assertEquals(Files.size(Models.dir().resolve(name + ".onnx")), listed.getLong("size_bytes"), name);
      assertNull(listed.getString("error"), name);
      assertNull(listed.getValue("device"), "an API-only process runs no model: its workers decide");
      assertEquals(name.equals("yolov8n_int8"), listed.getBoolean("default"), name);
    }
    JsonObject notes = byName.get("notes");
    assertNull(notes.getValue("layout"));
    assertNull(notes.getValue("classes"));
    assertTrue(notes.getString("error").startsWith("cannot be read as an ONNX model"), notes.encode());
    assertFalse(notes.getString("error").contains(models.toString()), "no server path in the answer");
  }

  @Test
  void ruleSetsAreListedWithTheFirstParagraphOfTheirComment() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/api/v1/rule-sets");
    assertEquals(200, r.status(), r.body());
    JsonArray list = r.json().getJsonArray("rule_sets");
    Map<String, String> byName = list.stream().map(JsonObject.class::cast)
        .collect(Collectors.toMap(o -> o.getString("name"), o -> o.getString("description")));
    assertEquals(List.of("bare", "parked_rows", "people_in_vehicles", "size_limits"),
        list.stream().map(o -> ((JsonObject) o).getString("name")).toList());
    assertEquals("Vehicles lined up in a row gain confidence.", byName.get("parked_rows"));
    assertEquals("Physical size limits per class, from the ground sample distance.", byName.get("size_limits"));
    assertEquals("", byName.get("bare"), "a rule set without a comment has an empty description");

    // The folder is read at each request: a rule set added now is listed at once.
    Files.writeString(rules.resolve("kites.pl"), "% Kites are\n% never cars.\n%\n% Params: none.\n");
    JsonArray again = Http.get(service.baseUrl() + "/api/v1/rule-sets").json().getJsonArray("rule_sets");
    assertEquals("Kites are never cars.", again.stream().map(JsonObject.class::cast)
        .filter(o -> o.getString("name").equals("kites")).findFirst().orElseThrow().getString("description"));
  }
}
