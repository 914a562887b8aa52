package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Route;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/** The served OpenAPI document names every route the running service answers, with its methods. */
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
