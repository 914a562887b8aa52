package io.osprey.rules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The rules stage inside real jobs on a real aerial image. */
@IntegrationTest
class RulesJobTest {
  @TempDir
  static Path rulesDir;
  private static TestService service;
  private static String base;
  private static JsonObject upload;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    for (String name : List.of("size_limits.pl", "people_in_vehicles.pl", "parked_rows.pl")) {
      Files.copy(Path.of("conf", "rules", name), rulesDir.resolve(name));
    }
    Files.writeString(rulesDir.resolve("quiet.pl"), "unused(1).\n");
    Files.writeString(rulesDir.resolve("broken.pl"), "adjust(Id, S) :- detection(Id, car, S.\n");
    service = TestService.start(RulesJobTest.class, Role.ALL,
        new JsonObject().put("rules", new JsonObject().put("dir", rulesDir.toString())));
    base = service.baseUrl();
    upload = Jobs.upload(base, List.of(Fixtures.imagesDir().resolve("small-vehicles1.jpeg")));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static JsonObject run(JsonObject symbolic) throws Exception {
    JsonObject config = new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
        .put("sahi", new JsonObject().put("slice_width", 512).put("slice_height", 512));
    if (symbolic != null) {
      config.put("symbolic", symbolic);
    }
    Http.Response r = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", config));
    assertEquals(202, r.status(), r.body());
    String jobId = r.json().getJsonObject("data").getString("job_id");
    JsonObject done = Jobs.waitFor(base, jobId, 120_000, "completed", "failed");
    return done.put("job_id", jobId);
  }

  private static JsonObject results(String jobId) throws Exception {
    return Http.get(base + "/api/v1/jobs/" + jobId + "/results").json().getJsonArray("results").getJsonObject(0);
  }

  @Test
  void parkedRowsRaisesCarsInRowsAndSaysSoInTheResults() throws Exception {
    JsonObject plain = results(run(null).getString("job_id"));
    JsonObject ruled = results(run(new JsonObject().put("enabled", true).put("rule_set", "parked_rows"))
        .getString("job_id"));
    JsonArray before = plain.getJsonArray("detections");
    JsonArray after = ruled.getJsonArray("detections");
    assertEquals(before.size(), after.size(), "parked_rows never removes a box");
    int raised = 0;
    for (int i = 0; i < after.size(); i++) {
      JsonObject d = after.getJsonObject(i);
      JsonArray notes = d.getJsonArray("rules");
      if (!notes.isEmpty()) {
        raised++;
        JsonObject note = notes.getJsonObject(0);
        assertEquals("parked_rows", note.getString("rule_set"));
        assertEquals("adjust", note.getString("action"));
        assertTrue(note.getDouble("to") > note.getDouble("from"));
        assertTrue(List.of("car", "truck", "bus").contains(d.getString("class_name")));
      }
    }
    assertTrue(raised >= 3, "cars raised in rows: " + raised);
  }

  @Test
  void stageWithNothingToSayLeavesResultsIdentical() throws Exception {
    JsonArray plain = results(run(null).getString("job_id")).getJsonArray("detections");
    JsonArray quiet = results(run(new JsonObject().put("enabled", true).put("rule_set", "quiet"))
        .getString("job_id")).getJsonArray("detections");
    quiet.forEach(d -> ((JsonObject) d).remove("rules"));
    assertEquals(plain, quiet);
  }

  @Test
  void sizeLimitsWithAWrongGroundSampleDistanceSuppressesAndListsWhy() throws Exception {
    // At 1 m per pixel every ~40 px car is 40 m long: all are suppressed, each with its reason.
    JsonObject done = run(new JsonObject().put("enabled", true).put("rule_set", "size_limits")
        .put("metadata", new JsonObject().put("gsd", 1.0)));
    JsonObject r = results(done.getString("job_id"));
    assertTrue(r.getJsonArray("detections").stream().noneMatch(d -> ((JsonObject) d).getString("class_name")
        .equals("car")));
    JsonArray suppressed = r.getJsonArray("suppressed");
    assertTrue(suppressed.size() >= 15, suppressed.encode());
    assertEquals("too_large", suppressed.getJsonObject(0).getJsonObject("suppressed_by").getString("reason"));
  }

  @Test
  void brokenRuleFileFailsTheJobWithRulesError() throws Exception {
    JsonObject failed = run(new JsonObject().put("enabled", true).put("rule_set", "broken"));
    assertEquals("failed", failed.getString("status"));
    assertEquals("RULES_ERROR", failed.getJsonObject("error").getString("code"));
    assertTrue(failed.getJsonObject("error").getString("details").contains("broken.pl line 1"),
        failed.encode());
  }

  @Test
  void unknownRuleSetIsRefusedAtPredict() throws Exception {
    Http.Response r = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id"))
        .put("config", new JsonObject().put("symbolic", new JsonObject().put("enabled", true)
            .put("rule_set", "nope"))));
    assertEquals(400, r.status());
    assertEquals("config.symbolic.rule_set", r.json().getJsonArray("errors").getJsonObject(0).getString("field"));
  }
}
