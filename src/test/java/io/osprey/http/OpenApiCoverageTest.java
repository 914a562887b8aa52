package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Route;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The served OpenAPI document and the running service agree: every route is documented with its methods, real
 * responses carry exactly the documented fields (no more, none of the required ones missing, no documented field
 * that nothing serves), and every documented predict setting is accepted.
 */
@IntegrationTest
class OpenApiCoverageTest {
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(OpenApiCoverageTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> document() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/openapi.yaml");
    assertEquals(200, r.status());
    return new Yaml().load(r.body());
  }

  /** The JSON schema documented for one answer of one operation. */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> responseSchema(Map<String, Object> doc, String method, String path,
                                                    int status) {
    Map<String, Object> op = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>) doc.get("paths"))
        .get(path)).get(method);
    Map<String, Object> responses = (Map<String, Object>) op.get("responses");
    Map<String, Object> response = (Map<String, Object>) responses.get(Integer.toString(status));
    if (response == null) {
      response = (Map<String, Object>) responses.get(status);
    }
    assertTrue(response != null, method + " " + path + " documents no " + status + " answer");
    if (response.get("$ref") instanceof String ref) {
      response = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>) doc.get("components"))
          .get("responses")).get(ref.substring(ref.lastIndexOf('/') + 1));
    }
    Map<String, Object> content = (Map<String, Object>) response.get("content");
    return (Map<String, Object>) ((Map<String, Object>) content.get("application/json")).get("schema");
  }

  /** Sends a request and checks its answer against the schema the document gives for that status. */
  private static Http.Response served(Map<String, Object> doc, StrictSchema strict, List<String> problems,
                                      String method, String docPath, String url, String token, Object body,
                                      int status) throws Exception {
    Http.Response r = body == null && "get".equals(method) ? Http.get(service.baseUrl() + url, token)
        : Http.json(method.toUpperCase(), service.baseUrl() + url, token, body);
    assertEquals(status, r.status(), method + " " + url + ": " + r.body());
    Object json = r.body().startsWith("[") ? new JsonArray(r.body()) : r.json();
    strict.check(json, responseSchema(doc, method, docPath, status))
        .forEach(p -> problems.add(method + " " + docPath + " " + status + " " + p));
    return r;
  }

  @Test
  @SuppressWarnings("unchecked")
  void servedResponsesHaveExactlyTheDocumentedFieldsAndEveryDocumentedSettingIsAccepted() throws Exception {
    Models.assumePresent();
    Map<String, Object> doc = document();
    StrictSchema strict = new StrictSchema(doc);
    List<String> problems = new ArrayList<>();
    String admin = TestAuth.admin();

    Path dir = Files.createTempDirectory("openapi-coverage");
    Http.Multipart form = new Http.Multipart();
    form.file("files", "a.png", Fixtures.write(dir, "a.png", Fixtures.image("png", 320, 200)));
    Http.Response uploaded = form.post(service.baseUrl() + "/api/v1/inference/upload");
    assertEquals(200, uploaded.status(), uploaded.body());
    strict.check(uploaded.json(), responseSchema(doc, "post", "/api/v1/inference/upload", 200))
        .forEach(p -> problems.add("upload " + p));
    String uploadId = uploaded.json().getString("upload_id");
    String fileId = uploaded.json().getJsonArray("files").getJsonObject(0).getString("file_id");

    // Every documented setting, with a valid value; the schemas must list exactly these.
    JsonObject sahi = new JsonObject().put("enabled", true).put("slice_height", 256).put("slice_width", 256)
        .put("overlap_height_ratio", 0.1).put("overlap_width_ratio", 0.1).put("perform_standard_pred", true)
        .put("postprocess_type", "nms").put("postprocess_match_metric", "iou")
        .put("postprocess_match_threshold", 0.5).put("postprocess_class_agnostic", false);
    JsonObject symbolic = new JsonObject().put("enabled", true).put("rule_set", "size_limits")
        .put("params", new JsonObject().put("size_margin", 1.2))
        .put("metadata", new JsonObject().put("gsd", 0.05).put("time_of_day", "noon"))
        .put("image_metadata", new JsonObject().put(fileId, new JsonObject().put("gsd", 0.06)));
    JsonObject config = new JsonObject().put("model", service.config().string("models.default"))
        .put("confidence", 0.2).put("nms_iou", 0.45).put("min_box_area", 0).put("classes", new JsonArray())
        .put("exclude_classes", new JsonArray().add("toothbrush")).put("visualization", true).put("sahi", sahi)
        .put("symbolic", symbolic).put("create_annotations", true).put("flight_id", "coverage-flight")
        .put("waypoint_id", "coverage-wp");
    Map<String, Object> schemas = (Map<String, Object>) ((Map<String, Object>) doc.get("components")).get("schemas");
    for (var e : Map.of("InferenceConfig", config, "SahiConfig", sahi, "SymbolicConfig", symbolic).entrySet()) {
      Set<String> listed = ((Map<String, Object>) ((Map<String, Object>) schemas.get(e.getKey())).get("properties"))
          .keySet();
      assertEquals(new TreeSet<>(listed), new TreeSet<>(e.getValue().fieldNames()),
          e.getKey() + ": this test must send every documented setting");
    }
    JsonObject predict = new JsonObject().put("upload_id", uploadId).put("file_ids", new JsonArray().add(fileId))
        .put("config", config);
    Http.Response accepted = served(doc, strict, problems, "post", "/api/v1/inference/predict",
        "/api/v1/inference/predict", null, predict, 202);
    String jobId = accepted.json().getJsonObject("data").getString("job_id");

    // A misspelled setting is refused, naming it, in the documented error shape; with more bad fields than an
    // answer lists, the rest are counted.
    JsonObject typos = new JsonObject().put("confidance", 0.3);
    for (int i = 0; i <= ApiError.MAX_LISTED_ERRORS; i++) {
      typos.put("typo" + i, i);
    }
    Http.Response typo = served(doc, strict, problems, "post", "/api/v1/inference/predict",
        "/api/v1/inference/predict", admin, predict.copy().put("config", typos), 400);
    assertEquals("INVALID_CONFIG", typo.json().getString("code"));
    assertEquals("config.confidance", typo.json().getJsonArray("errors").getJsonObject(0).getString("field"));
    assertEquals(ApiError.MAX_LISTED_ERRORS + 2, typo.json().getInteger("errors_total"));

    JsonObject done = Jobs.waitFor(service.baseUrl(), jobId, 180_000, "completed", "failed", "cancelled");
    assertEquals("completed", done.getString("status"), done.encode());
    served(doc, strict, problems, "get", "/api/v1/jobs/{job_id}/status", "/api/v1/jobs/" + jobId + "/status",
        admin, null, 200);
    served(doc, strict, problems, "get", "/api/v1/jobs/{job_id}/results", "/api/v1/jobs/" + jobId + "/results",
        admin, null, 200);
    served(doc, strict, problems, "get", "/api/v1/jobs/{job_id}/visualization",
        "/api/v1/jobs/" + jobId + "/visualization", admin, null, 200);
    served(doc, strict, problems, "get", "/api/v1/jobs", "/api/v1/jobs", admin, null, 200);
    served(doc, strict, problems, "get", "/api/v1/monitoring/dashboard", "/api/v1/monitoring/dashboard", admin,
        null, 200);
    served(doc, strict, problems, "get", "/api/v1/models", "/api/v1/models", null, null, 200);
    served(doc, strict, problems, "get", "/api/v1/rule-sets", "/api/v1/rule-sets", null, null, 200);

    JsonObject detection = new JsonObject().put("classNum", 2).put("label", "car").put("centerX", 0.5)
        .put("centerY", 0.5).put("width", 0.1).put("height", 0.08).put("confidence", 0.9);
    JsonObject create = new JsonObject().put("name", "frame.png").put("flightId", "coverage-flight")
        .put("waypointId", "coverage-wp").put("source", "Manual").put("detections", new JsonArray().add(detection))
        .put("image", java.util.Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(4711)));
    JsonObject created = served(doc, strict, problems, "post", "/annotations", "/annotations", admin, create, 201)
        .json();
    served(doc, strict, problems, "get", "/annotations/{id}", "/annotations/" + created.getString("id"), admin, null,
        200);
    served(doc, strict, problems, "get", "/media/{id}", "/media/" + created.getString("mediaId"), admin, null, 200);
    JsonObject page = served(doc, strict, problems, "get", "/annotations", "/annotations?flightId=coverage-flight",
        admin, null, 200).json();
    // The job's own annotation (create_annotations) carries its flight and waypoint.
    assertTrue(page.getJsonArray("items").stream().map(JsonObject.class::cast)
        .anyMatch(a -> "AI".equals(a.getString("source")) && "coverage-wp".equals(a.getString("waypointId"))),
        page.encode());
    served(doc, strict, problems, "get", "/classes", "/classes", admin, null, 200);
    served(doc, strict, problems, "get", "/annotations/export", "/annotations/export?format=coco&flightId=nowhere",
        admin, null, 404);
    served(doc, strict, problems, "get", "/annotations/export", "/annotations/export?format=tar", admin, null, 400);
    served(doc, strict, problems, "get", "/settings/directories", "/settings/directories", admin, null, 200);

    assertEquals(List.of(), problems, "served answers that differ from openapi.yaml");
    // Optional fields these answers cannot show (a job that never failed has no error, ...), each with its reason.
    Map<String, Set<String>> notShown = Map.of(
        "Error", Set.of("details"), // given by a few errors only (429's retry_after_seconds, upload problems)
        "JobProgress", Set.of("current_stage", "estimated_completion")); // only while a job is processing
    Map<String, Set<String>> never = new java.util.TreeMap<>(strict.neverServed());
    notShown.forEach((schema, fields) -> never.computeIfPresent(schema, (k, v) -> {
      v.removeAll(fields);
      return v.isEmpty() ? null : v;
    }));
    assertEquals(Map.of(), never, "documented fields that no answer served");
  }

  @Test
  @SuppressWarnings("unchecked")
  void everyRouteIsDocumented() throws Exception {
    Http.Response r = Http.get(service.baseUrl() + "/openapi.yaml");
    assertEquals(200, r.status());
    Map<String, Object> doc = new Yaml().load(r.body());
    assertTrue(String.valueOf(doc.get("openapi")).startsWith("3."));
    Map<String, Map<String, Object>> paths = (Map<String, Map<String, Object>>) doc.get("paths");

    Set<String> routes = new TreeSet<>();
    for (Route route : service.app().http().router().getRoutes()) {
      String path = route.getPath();
      if (path == null || (route.methods() == null || route.methods().isEmpty()) && path.endsWith("/")) {
        continue; // handlers that apply to every request or a whole prefix (request id, metrics, a route guard)
      }
      String openApiPath = path.replaceAll(":([A-Za-z0-9_]+)", "{$1}");
      Set<HttpMethod> methods = route.methods();
      assertFalse(methods == null || methods.isEmpty(), "route " + path + " should name its methods");
      for (HttpMethod m : methods) {
        routes.add(m.name().toLowerCase() + " " + openApiPath);
      }
    }
    assertFalse(routes.isEmpty());
    List<String> undocumented = new ArrayList<>();
    for (String route : routes) {
      String[] parts = route.split(" ", 2);
      Map<String, Object> item = paths.get(parts[1]);
      if (item == null || !item.containsKey(parts[0])) {
        undocumented.add(route);
      }
    }
    assertEquals(List.of(), undocumented, "routes missing from openapi.yaml");

    List<String> phantom = new ArrayList<>();
    paths.forEach((path, item) -> item.keySet().stream()
        .filter(k -> Set.of("get", "post", "put", "patch", "delete").contains(k))
        .map(k -> k + " " + path)
        .filter(k -> !routes.contains(k))
        .forEach(phantom::add));
    assertEquals(List.of(), phantom, "openapi.yaml documents routes the service does not have");
  }
}
