package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every annotations-service route × (no token, a token without the permission, a token with it): 401, 403, and
 * through. Bad tokens are refused at the HTTP level; the detection job API takes an optional token and keeps each
 * subject's files to itself.
 */
@IntegrationTest
class PermissionMatrixTest {
  private static TestService service;
  private static String base;
  private static final String ID = "0123456789abcdef0123456789abcdef";

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(PermissionMatrixTest.class);
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /** method, path, body, permission that grants access, a permission that does not. */
  static Stream<Arguments> routes() {
    JsonObject status = new JsonObject().put("status", "Validated");
    return Stream.of(
        Arguments.of("POST", "/annotations", new JsonObject(), Permission.ANN, Permission.DATASET),
        Arguments.of("GET", "/annotations", null, Permission.ANN, null),
        Arguments.of("GET", "/annotations", null, Permission.DATASET, null),
        Arguments.of("GET", "/annotations/export?format=yolo", null, Permission.ANN, null),
        Arguments.of("GET", "/annotations/export?format=coco", null, Permission.DATASET, null),
        Arguments.of("GET", "/annotations/" + ID, null, Permission.ANN, null),
        Arguments.of("GET", "/annotations/" + ID + "/image", null, Permission.DATASET, null),
        Arguments.of("GET", "/annotations/" + ID + "/thumbnail", null, Permission.ANN, null),
        Arguments.of("PUT", "/annotations/" + ID, new JsonObject(), Permission.ANN, Permission.DATASET),
        Arguments.of("DELETE", "/annotations/" + ID, null, Permission.ANN, Permission.DATASET),
        Arguments.of("PATCH", "/dataset/" + ID + "/status", status, Permission.DATASET, Permission.ANN),
        Arguments.of("POST", "/dataset/bulk-status", new JsonObject(), Permission.DATASET, Permission.ANN),
        Arguments.of("POST", "/media", new JsonObject(), Permission.ANN, Permission.DATASET),
        Arguments.of("POST", "/media/batch", new JsonObject(), Permission.ANN, Permission.DATASET),
        Arguments.of("GET", "/media/" + ID, null, Permission.ANN, null),
        Arguments.of("GET", "/media/" + ID + "/file", null, Permission.DATASET, null),
        Arguments.of("GET", "/settings/directories", null, Permission.ADM, Permission.ANN),
        Arguments.of("PUT", "/settings/directories", new JsonObject(), Permission.ADM, Permission.DATASET),
        Arguments.of("GET", "/classes", null, Permission.ANN, null),
        Arguments.of("POST", "/classes", new JsonObject(), Permission.ADM, Permission.ANN),
        Arguments.of("PUT", "/classes/999", new JsonObject(), Permission.ADM, Permission.ANN),
        Arguments.of("DELETE", "/classes/999", null, Permission.ADM, Permission.DATASET));
  }

  @ParameterizedTest(name = "{0} {1} needs {3}")
  @MethodSource("routes")
  void routeAnswers401WithoutTokenAnd403WithoutPermission(String method, String path, JsonObject body,
                                                          Permission grants, Permission lacks) throws Exception {
    Http.Response none = Http.json(method, base + path, null, body);
    assertEquals(401, none.status(), method + " " + path + " without a token");
    assertEquals("UNAUTHORIZED", none.json().getString("code"));

    String wrong = lacks == null ? TestAuth.token("nobody") : TestAuth.token("other", lacks);
    Http.Response forbidden = Http.json(method, base + path, wrong, body);
    assertEquals(403, forbidden.status(), method + " " + path + " with " + lacks + ": " + forbidden.body());
    assertEquals("FORBIDDEN", forbidden.json().getString("code"));

    Http.Response allowed = Http.json(method, base + path, TestAuth.token("holder", grants), body);
    assertNotEquals(401, allowed.status(), method + " " + path + " with " + grants);
    assertNotEquals(403, allowed.status(), method + " " + path + " with " + grants + ": " + allowed.body());
    assertTrue(allowed.status() < 500, method + " " + path + ": " + allowed.body());
  }

  @Test
  void badTokensAre401OverHttp() throws Exception {
    String url = base + "/annotations";
    List<String> bad = new ArrayList<>();
    bad.add(TestAuth.keys().token("alice", List.of(Permission.ANN), -120));
    String claims = Base64.getUrlEncoder().withoutPadding().encodeToString(new JsonObject().put("sub", "alice")
        .put("exp", System.currentTimeMillis() / 1000 + 600).put("permissions", new JsonArray().add("ANN")).encode()
        .getBytes(StandardCharsets.UTF_8));
    bad.add(Base64.getUrlEncoder().withoutPadding().encodeToString("{\"alg\":\"none\",\"typ\":\"JWT\"}"
        .getBytes(StandardCharsets.UTF_8)) + "." + claims + ".");
    bad.add(TestAuth.keys().sign(new JsonObject().put("alg", "RS256").put("kid", TestAuth.keys().kid()),
        new JsonObject().put("sub", "alice").put("permissions", new JsonArray().add("ANN"))));
    bad.add("garbage");
    JsonObject rs256 = new JsonObject().put("alg", "RS256").put("kid", TestAuth.keys().kid());
    JsonObject fine = new JsonObject().put("sub", "alice").put("exp", System.currentTimeMillis() / 1000 + 600)
        .put("permissions", new JsonArray().add("ANN"));
    bad.add(TestAuth.keys().sign(rs256.copy().put("crit", new JsonArray().add("b64")).put("b64", false), fine));
    bad.add(TestAuth.keys().sign(rs256.copy().put("crit", "b64"), fine));
    bad.add(TestAuth.keys().sign(rs256, fine.copy().put("exp", 1e20)));
    bad.add(TestAuth.keys().sign(rs256, fine.copy().put("exp", System.currentTimeMillis() / 1000 + 2 * 86_400)));
    bad.add(TestAuth.keys().sign(rs256, fine.copy().put("exp", "never")));
    for (String token : bad) {
      Http.Response r = Http.get(url, token);
      assertEquals(401, r.status(), token);
      assertEquals("UNAUTHORIZED", r.json().getString("code"), r.body());
      assertTrue(r.header("WWW-Authenticate").startsWith("Bearer"));
    }
    assertEquals(200, Http.get(url, TestAuth.keys().sign(rs256, fine)).status(), "the unforged token passes");
    Http.Response lower = Http.get(url, TestAuth.keys().sign(rs256, fine.copy().put("permissions",
        new JsonArray().add("ann").add("dataset").add("adm"))));
    assertEquals(403, lower.status(), "permission names are exact: " + lower.body());
  }

  @Test
  void issuerAndAudienceAreEnforcedWhenConfigured() throws Exception {
    OspreyApp strict = service.startPeer(Role.API, new JsonObject().put("auth", new JsonObject()
        .put("issuer", "https://admin.example/").put("audience", "osprey")));
    try {
      String url = "http://127.0.0.1:" + strict.port() + "/annotations";
      JsonObject rs256 = new JsonObject().put("alg", "RS256").put("kid", TestAuth.keys().kid());
      JsonObject fine = new JsonObject().put("sub", "alice").put("exp", System.currentTimeMillis() / 1000 + 600)
          .put("permissions", new JsonArray().add("ANN")).put("iss", "https://admin.example/")
          .put("aud", new JsonArray().add("admin").add("osprey"));
      assertEquals(200, Http.get(url, TestAuth.keys().sign(rs256, fine)).status());
      for (JsonObject forged : List.of(fine.copy().put("iss", "https://evil.example/"), without(fine, "iss"),
          fine.copy().put("aud", "admin"), without(fine, "aud"))) {
        Http.Response r = Http.get(url, TestAuth.keys().sign(rs256, forged));
        assertEquals(401, r.status(), forged.encode());
        assertEquals("UNAUTHORIZED", r.json().getString("code"));
      }
      assertEquals(401, Http.get(url, TestAuth.annotator()).status(), "a token without iss and aud");
    } finally {
      TestService.stop(strict);
    }
  }

  private static JsonObject without(JsonObject o, String key) {
    JsonObject copy = o.copy();
    copy.remove(key);
    return copy;
  }

  @Test
  void jobApiTakesAnOptionalTokenAndKeepsFilesToTheirOwner() throws Exception {
    assertEquals(401, Http.get(base + "/api/v1/jobs", "garbage").status(), "a bad token is never ignored");

    String alice = TestAuth.token("alice");
    Http.Response up = new Http.Multipart().token(alice).bytes("files", "a.jpg", Fixtures.uniqueJpeg(77))
        .post(base + "/api/v1/inference/upload");
    assertEquals(200, up.status(), up.body());
    String fileId = up.json().getJsonArray("files").getJsonObject(0).getString("file_id");
    String url = base + "/api/v1/files/" + fileId + "/original";
    assertEquals(200, Http.get(url, alice).status());
    assertEquals(404, Http.get(url, TestAuth.token("bob")).status(), "another subject cannot see it");
    assertEquals(404, Http.get(url).status(), "nor can an anonymous caller");
    assertEquals(200, Http.get(url, TestAuth.token("root", Permission.ADM)).status(), "ADM sees everything");
    assertEquals("alice", single("SELECT user_id FROM uploads"));
    assertEquals(200, new Http.Multipart().bytes("files", "anon.jpg", Fixtures.uniqueJpeg(78))
        .post(base + "/api/v1/inference/upload").status(), "anonymous uploads keep working (spec: no auth)");
  }

  private static String single(String sql) throws Exception {
    try (var c = service.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

}
