package io.osprey.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Real tokens, a real JWKS served over HTTP, and the forgeries a verifier must refuse. */
class TokenVerifierTest {
  private static Vertx vertx;
  private static HttpServer server;
  private static final AtomicReference<JsonObject> JWKS = new AtomicReference<>();
  private static final AtomicInteger FETCHES = new AtomicInteger();
  private static final DevKeys KEYS = DevKeys.generate();

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    JWKS.set(KEYS.jwks());
    server = vertx.createHttpServer().requestHandler(req -> {
      FETCHES.incrementAndGet();
      req.response().putHeader("Content-Type", "application/json").end(JWKS.get().encode());
    }).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static TokenVerifier verifier(long minRefetchMillis) throws Exception {
    TokenVerifier v = new TokenVerifier(vertx, JwksSource.url(vertx, "http://127.0.0.1:" + server.actualPort()
        + "/jwks"), minRefetchMillis, 0);
    await(v.load());
    return v;
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static Throwable rejection(TokenVerifier v, String token) throws Exception {
    try {
      await(v.verify(token));
      throw new AssertionError("token accepted");
    } catch (ExecutionException e) {
      return e.getCause();
    }
  }

  private static String b64(String s) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static JsonObject claims(long expIn) {
    long now = System.currentTimeMillis() / 1000;
    return new JsonObject().put("sub", "alice").put("iat", now).put("exp", now + expIn)
        .put("permissions", new JsonArray().add("ANN"));
  }

  @Test
  void validTokenGivesSubjectAndPermissions() throws Exception {
    TokenVerifier.Caller caller = await(verifier(60_000).verify(KEYS.token("alice",
        List.of(Permission.ANN, Permission.DATASET), 300)));
    assertEquals("alice", caller.subject());
    assertEquals(EnumSet.of(Permission.ANN, Permission.DATASET), caller.permissions());
  }

  @Test
  void expiredTokenIsRejected() throws Exception {
    assertInstanceOf(TokenVerifier.Rejected.class, rejection(verifier(60_000), KEYS.token("alice",
        List.of(Permission.ANN), -120)));
  }

  @Test
  void tokenWithoutExpiryIsRejected() throws Exception {
    JsonObject c = claims(300);
    c.remove("exp");
    Throwable e = rejection(verifier(60_000), KEYS.sign(new JsonObject().put("alg", "RS256").put("kid", KEYS.kid()),
        c));
    assertTrue(e.getMessage().contains("exp"), e.getMessage());
  }

  @Test
  void unsignedAlgNoneTokenIsRejected() throws Exception {
    String token = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + b64(claims(300).encode()) + ".";
    Throwable e = rejection(verifier(60_000), token);
    assertTrue(e.getMessage().contains("none"), e.getMessage());
  }

  @Test
  void hmacSignedWithThePublicKeyIsRejected() throws Exception {
    String input = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"" + KEYS.kid() + "\"}") + "."
        + b64(claims(300).encode());
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(KEYS.publicKeyBytes(), "HmacSHA256"));
    String token = input + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(
        mac.doFinal(input.getBytes(StandardCharsets.US_ASCII)));
    Throwable e = rejection(verifier(60_000), token);
    assertTrue(e.getMessage().contains("HS256"), e.getMessage());
  }

  @Test
  void tamperedClaimsAreRejected() throws Exception {
    String token = KEYS.token("alice", List.of(Permission.ANN), 300);
    String[] parts = token.split("\\.");
    String forged = parts[0] + "." + b64(claims(300).put("permissions", new JsonArray().add("ADM")).encode()) + "."
        + parts[2];
    assertInstanceOf(TokenVerifier.Rejected.class, rejection(verifier(60_000), forged));
  }

  @Test
  void rotatedKeyIsFetchedOnceAndUnknownKidsDoNotHammerTheIdentityService() throws Exception {
    TokenVerifier v = verifier(60_000);
    TokenVerifier eager = verifier(0);
    DevKeys next = DevKeys.generate();
    JWKS.set(new JsonObject().put("keys", new JsonArray().add(KEYS.jwk()).add(next.jwk())));
    int before = FETCHES.get();
    // First unknown kid within the window: not refetched yet (the set was loaded just now).
    assertInstanceOf(TokenVerifier.Rejected.class, rejection(v, next.token("bob", Set.of(Permission.ANN), 300)));
    assertEquals(before, FETCHES.get());

    int start = FETCHES.get();
    assertEquals("bob", await(eager.verify(next.token("bob", Set.of(Permission.ANN), 300))).subject());
    assertEquals(start + 1, FETCHES.get(), "one refetch for the new kid");
    assertEquals("bob", await(eager.verify(next.token("bob", Set.of(Permission.ANN), 300))).subject());
    assertEquals(start + 1, FETCHES.get(), "known kid: no refetch");
    JWKS.set(KEYS.jwks());
  }

  @Test
  void subjectComesFromSubOrTheClaimsDotNetIssuersWrite() {
    assertEquals("u1", TokenVerifier.subject(new JsonObject().put("sub", "u1").put("nameid", "u2")));
    assertEquals("u2", TokenVerifier.subject(new JsonObject().put("nameid", "u2")));
    assertEquals("u3", TokenVerifier.subject(new JsonObject()
        .put("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "u3")));
    assertEquals(null, TokenVerifier.subject(new JsonObject().put("sub", " ")));
  }

  @Test
  void permissionsClaimMayBeAListOrAString() {
    assertEquals(EnumSet.of(Permission.ANN, Permission.ADM), TokenVerifier.permissions(
        new JsonObject().put("permissions", "ANN ADM OTHER")));
    assertEquals(EnumSet.noneOf(Permission.class), TokenVerifier.permissions(new JsonObject()));
  }
}
