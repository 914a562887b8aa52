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
    new AuthHandler(verifier, Permission.ANN, false).guard(router.get("/ann"))
        .handler(ctx -> ctx.response().end(CurrentUser.of(ctx)));
    new AuthHandler(verifier, Permission.ANN, true).guard(router.get("/events"))
        .handler(ctx -> ctx.response().end("events for " + CurrentUser.of(ctx)));
    AuthHandler.optional(verifier, path -> path.endsWith("/events")).guard(router.route("/optional/*"))
        .handler(ctx -> ctx.response().end("optional for " + CurrentUser.of(ctx)));
    new AuthHandler(verifier, Permission.ANN, false).guard(router.route("/any"))
        .handler(ctx -> ctx.response().end(ctx.request().method() + " by " + CurrentUser.of(ctx)));
    new AuthHandler(verifier, Permission.ANN, false).guard(router.get("/boom"))
        .handler(ctx -> ctx.fail(403, new IllegalStateException("the route's own refusal")));
    router.errorHandler(403, ctx -> ctx.response().setStatusCode(403).end("router: " + ctx.failure().getMessage()));
    server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + server.actualPort();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static Http.Response get(String path, String token) throws Exception {
    return withAuthorization(path, token == null ? null : "Bearer " + token);
  }

  private static Http.Response withAuthorization(String path, String authorization) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path));
    if (authorization != null) {
      b.header("Authorization", authorization);
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

  @Test
  void aRefusedQueryTokenIs401SayingWhyAndAHeaderTokenComesFirst() throws Exception {
    Http.Response expired = get("/events?access_token=" + keys.token("carol", List.of(Permission.ANN), -60), null);
    assertEquals(401, expired.status());
    assertEquals("UNAUTHORIZED", expired.json().getString("code"));
    assertTrue(expired.json().getString("message").contains("expired"), expired.body());
    assertEquals("Bearer error=\"invalid_token\"", expired.header("WWW-Authenticate"));
    Http.Response none = get("/events?access_token=", null);
    assertEquals(401, none.status());
    assertEquals("Bearer", none.header("WWW-Authenticate"));
    String carol = keys.token("carol", List.of(Permission.ANN), 300);
    assertEquals("events for dave", get("/events?access_token=" + carol,
        keys.token("dave", List.of(Permission.ANN), 300)).body());
  }

  @Test
  void authorizationHeadersTheLibraryCannotParseAre401InTheErrorShape() throws Exception {
    String token = keys.token("alice", List.of(Permission.ANN), 300);
    for (String header : List.of("Bearer", "Bearer a b", "Bearer " + token + ".extra", "Bearer %%%." + token,
        "Basic YWRtaW46YWRtaW4=", "bearer-less")) {
      Http.Response r = withAuthorization("/ann", header);
      assertEquals(401, r.status(), header + ": " + r.body());
      assertEquals("UNAUTHORIZED", r.json().getString("code"), header);
      assertTrue(r.header("WWW-Authenticate").startsWith("Bearer"), header);
    }
    assertEquals("Bearer", withAuthorization("/ann", "Basic YWRtaW46YWRtaW4=").header("WWW-Authenticate"),
        "another scheme is no token at all");
  }

  @Test
  void anOptionalGuardAdmitsCallersWithoutABearerTokenAsAnonymousButNeverIgnoresABadOne() throws Exception {
    assertEquals("optional for anonymous", get("/optional/jobs", null).body());
    assertEquals("optional for anonymous", withAuthorization("/optional/jobs", "Basic YWRtaW46YWRtaW4=").body(),
        "a proxy's Basic credential is not a token");
    assertEquals("optional for erin", get("/optional/jobs", keys.token("erin", List.of(), 300)).body());
    assertEquals(401, get("/optional/jobs", "garbage").status());
    assertEquals(401, withAuthorization("/optional/jobs", "Bearer").status());
    String frank = keys.token("frank", List.of(), 300);
    assertEquals("optional for frank", get("/optional/x/events?access_token=" + frank, null).body());
    assertEquals("optional for anonymous", get("/optional/jobs?access_token=" + frank, null).body(),
        "only event routes take the query token");
    assertEquals(401, get("/optional/x/events?access_token=garbage", null).status());
  }

  @Test
  void aPreflightWithoutCorsConfiguredIsStill401() throws Exception {
    Http.Response r = Http.send(HttpRequest.newBuilder(URI.create(base + "/any"))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "https://ui.example")
        .header("Access-Control-Request-Method", "GET").header("Access-Control-Request-Headers", "authorization")
        .build());
    assertEquals(401, r.status(), r.body());
    assertEquals("UNAUTHORIZED", r.json().getString("code"));
    assertEquals("GET by gina", get("/any", keys.token("gina", List.of(Permission.ANN), 300)).body());
  }

  @Test
  void failuresAfterTheGuardGoOnToTheRoutersOwnHandlers() throws Exception {
    Http.Response r = get("/boom", keys.token("alice", List.of(Permission.ANN), 300));
    assertEquals(403, r.status());
    assertEquals("router: the route's own refusal", r.body());
    Http.Response guard = get("/boom", keys.token("alice", List.of(Permission.DATASET), 300));
    assertEquals(403, guard.status());
    assertEquals("FORBIDDEN", guard.json().getString("code"), "the guard's own refusal is in the error shape");
  }
}
