package io.osprey.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.http.CurrentUser;
import io.osprey.http.RequestIds;
import io.osprey.testing.Http;
import io.osprey.testing.UnitTest;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guard over HTTP, with developer-mode keys read from a folder as the run script sets them up. */
@UnitTest
class AuthHandlerTest {
  @TempDir
  static Path dir;
  private static Vertx vertx;
  private static HttpServer server;
  private static DevKeys keys;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    keys = DevKeys.inFolder(dir);
    assertTrue(Files.exists(dir.resolve("jwks.json")));
    TokenVerifier verifier = new TokenVerifier(vertx, JwksSource.file(vertx, dir.resolve("jwks.json")), 10_000, 5);
    verifier.load().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    Router router = Router.router(vertx);
    router.route().handler(new RequestIds());
    router.get("/ann").handler(new AuthHandler(verifier, Permission.ANN, false))
        .handler(ctx -> ctx.response().end(CurrentUser.of(ctx)));
    router.get("/events").handler(new AuthHandler(verifier, Permission.ANN, true))
        .handler(ctx -> ctx.response().end("events for " + CurrentUser.of(ctx)));
    server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + server.actualPort();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static Http.Response get(String path, String token) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return Http.send(b.build());
  }

  @Test
  void missingOrInvalidTokenIs401InTheErrorShape() throws Exception {
    Http.Response none = get("/ann", null);
    assertEquals(401, none.status());
    assertEquals("UNAUTHORIZED", none.json().getString("code"));
    assertEquals("Bearer", none.header("WWW-Authenticate"));
    Http.Response garbage = get("/ann", "not.a.token");
    assertEquals(401, garbage.status());
    Http.Response expired = get("/ann", keys.token("alice", List.of(Permission.ANN), -60));
    assertEquals(401, expired.status());
  }

  @Test
  void missingPermissionIs403AndTheRightOneLetsTheSubjectThrough() throws Exception {
    Http.Response forbidden = get("/ann", keys.token("alice", List.of(Permission.DATASET), 300));
    assertEquals(403, forbidden.status());
    assertEquals("FORBIDDEN", forbidden.json().getString("code"));
    Http.Response ok = get("/ann", keys.token("alice", List.of(Permission.ANN), 300));
    assertEquals(200, ok.status());
    assertEquals("alice", ok.body());
    assertEquals("root", get("/ann", keys.token("root", List.of(Permission.ADM), 300)).body(), "ADM may do all");
  }

  @Test
  void forgedTokensAre401SayingWhyAndLowerCasePermissionsGrantNothing() throws Exception {
    long now = System.currentTimeMillis() / 1000;
    JsonObject header = new JsonObject().put("alg", "RS256").put("kid", keys.kid());
    JsonObject claims = new JsonObject().put("sub", "alice").put("exp", now + 300)
        .put("permissions", new io.vertx.core.json.JsonArray().add("ANN"));
    Http.Response crit = get("/ann", keys.sign(header.copy().put("crit", new io.vertx.core.json.JsonArray()
        .add("urn:example:ext")), claims));
    assertEquals(401, crit.status());
    assertEquals("UNAUTHORIZED", crit.json().getString("code"));
    assertTrue(crit.json().getString("message").contains("crit"), crit.body());
    assertTrue(crit.header("WWW-Authenticate").contains("invalid_token"));

    Http.Response forever = get("/ann", keys.signText(header.encode(),
        "{\"sub\":\"alice\",\"permissions\":[\"ANN\"],\"exp\":1e20}"));
    assertEquals(401, forever.status());
    assertTrue(forever.json().getString("message").contains("exp"), forever.body());

    Http.Response lower = get("/ann", keys.sign(header, claims.copy().put("permissions",
        new io.vertx.core.json.JsonArray().add("ann").add("adm"))));
    assertEquals(403, lower.status(), "valid token, but 'ann' is not ANN: " + lower.body());
  }

  @Test
  void eventRoutesAcceptTheTokenAsAQueryParameterOthersDoNot() throws Exception {
    String token = keys.token("carol", List.of(Permission.ANN), 300);
    assertEquals("events for carol", get("/events?access_token=" + token, null).body());
    assertEquals(401, get("/ann?access_token=" + token, null).status());
  }

  @Test
  void developerKeysAreReusedFromTheirFolder() throws Exception {
    DevKeys again = DevKeys.inFolder(dir);
    assertEquals(keys.kid(), again.kid());
    assertEquals(200, get("/ann", again.token("dave", List.of(Permission.ANN), 300)).status());
    assertTrue(new JsonObject(Files.readString(dir.resolve("jwks.json"))).getJsonArray("keys").size() == 1);
  }
}
