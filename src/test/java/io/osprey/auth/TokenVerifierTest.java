package io.osprey.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
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
@UnitTest
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

  private static TokenVerifier verifier(TokenVerifier.Policy policy) throws Exception {
    TokenVerifier v = new TokenVerifier(vertx, JwksSource.url(vertx, "http://127.0.0.1:" + server.actualPort()
        + "/jwks"), 60_000, 0, policy);
    await(v.load());
    return v;
  }

  private static JsonObject rs256() {
    return new JsonObject().put("alg", "RS256").put("typ", "JWT").put("kid", KEYS.kid());
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
  // ---------------------------------------------------------------- forged kinds of issue 14

  @Test
  void critNamingAnExtensionIsRejectedSinceNoneIsUnderstood() throws Exception {
    TokenVerifier v = verifier(60_000);
    Throwable e = rejection(v, KEYS.sign(rs256().put("crit", new JsonArray().add("exp-ext")).put("exp-ext", 1),
        claims(300)));
    assertInstanceOf(TokenVerifier.Rejected.class, e);
    assertTrue(e.getMessage().contains("crit") && e.getMessage().contains("exp-ext"), e.getMessage());
    // Naming a header parameter the JWS spec defines is no better (RFC 7515 forbids it).
    assertTrue(rejection(v, KEYS.sign(rs256().put("crit", new JsonArray().add("alg")), claims(300)))
        .getMessage().contains("crit"));
  }

  @Test
  void critThatIsNotANonEmptyArrayOfNamesIsRejected() throws Exception {
    TokenVerifier v = verifier(60_000);
    for (Object crit : List.of("b64", new JsonArray(), new JsonArray().add(1), new JsonArray().add(""),
        new JsonObject())) {
      Throwable e = rejection(v, KEYS.sign(rs256().put("crit", crit), claims(300)));
      assertTrue(e.getMessage().contains("non-empty array"), crit + ": " + e.getMessage());
    }
    String nullCrit = KEYS.signText("{\"alg\":\"RS256\",\"kid\":\"" + KEYS.kid() + "\",\"crit\":null}",
        claims(300).encode());
    assertTrue(rejection(v, nullCrit).getMessage().contains("crit"));
  }

  @Test
  void issuerIsEnforcedExactlyWhenConfigured() throws Exception {
    TokenVerifier v = verifier(new TokenVerifier.Policy("https://admin.example/", "", 86_400));
    assertEquals("alice", await(v.verify(KEYS.sign(rs256(), claims(300).put("iss", "https://admin.example/"))))
        .subject());
    for (Object iss : List.of("https://admin.example", "HTTPS://ADMIN.EXAMPLE/", "https://evil.example/")) {
      Throwable e = rejection(v, KEYS.sign(rs256(), claims(300).put("iss", iss)));
      assertTrue(e.getMessage().contains("issuer"), iss + ": " + e.getMessage());
    }
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300))).getMessage().contains("issuer"), "iss missing");
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300).put("iss", 7))).getMessage().contains("iss"));
    // Not configured: any issuer passes (the default).
    assertEquals("alice", await(verifier(60_000).verify(KEYS.sign(rs256(), claims(300).put("iss", "anyone"))))
        .subject());
  }

  @Test
  void audienceMustBeContainedWhenConfigured() throws Exception {
    TokenVerifier v = verifier(new TokenVerifier.Policy("", "osprey", 86_400));
    assertEquals("alice", await(v.verify(KEYS.sign(rs256(), claims(300).put("aud", "osprey")))).subject());
    assertEquals("alice", await(v.verify(KEYS.sign(rs256(), claims(300).put("aud", new JsonArray().add("admin")
        .add("osprey"))))).subject(), "an array containing it");
    for (Object aud : List.of("admin", "Osprey", new JsonArray().add("admin"), new JsonArray())) {
      Throwable e = rejection(v, KEYS.sign(rs256(), claims(300).put("aud", aud)));
      assertTrue(e.getMessage().contains("audience"), aud + ": " + e.getMessage());
    }
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300))).getMessage().contains("audience"), "aud missing");
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300).put("aud", new JsonArray().add("osprey").add(3))))
        .getMessage().contains("aud"), "aud with a non-string entry");
  }

  @Test
  void expiryFurtherAheadThanTheMaximumLifetimeIsRejected() throws Exception {
    TokenVerifier v = verifier(new TokenVerifier.Policy("", "", 3_600));
    assertEquals("alice", await(v.verify(KEYS.sign(rs256(), claims(3_500)))).subject());
    Throwable e = rejection(v, KEYS.sign(rs256(), claims(3_700)));
    assertTrue(e.getMessage().contains("3600"), e.getMessage());
    // The default maximum is 24 h.
    TokenVerifier standard = verifier(60_000);
    assertEquals("alice", await(standard.verify(KEYS.sign(rs256(), claims(86_000)))).subject());
    assertInstanceOf(TokenVerifier.Rejected.class, rejection(standard, KEYS.sign(rs256(), claims(86_400 + 120))));
  }

  @Test
  void absurdNonNumericOrNonFiniteExpiryIsRejected() throws Exception {
    TokenVerifier v = verifier(60_000);
    long now = System.currentTimeMillis() / 1000;
    String body = "{\"sub\":\"alice\",\"iat\":" + now + ",\"permissions\":[\"ANN\"],\"exp\":";
    String header = rs256().encode();
    for (String exp : List.of("1e20", "1e400", "-1e400", "100000000000000000000", "9223372036854775807",
        "\"" + (now + 300) + "\"", "\"NaN\"", "null", "true", "[" + (now + 300) + "]", "{}")) {
      Throwable e = rejection(v, KEYS.signText(header, body + exp + "}"));
      assertInstanceOf(TokenVerifier.Rejected.class, e, exp);
      assertTrue(e.getMessage().contains("exp"), exp + ": " + e.getMessage());
    }
    // A fractional NumericDate within the lifetime is fine (RFC 7519 allows it).
    assertEquals("alice", await(v.verify(KEYS.signText(header, body + (now + 300) + ".5}"))).subject());
  }

  @Test
  void nonNumericNotBeforeOrIssuedAtIsRejected() throws Exception {
    TokenVerifier v = verifier(60_000);
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300).put("nbf", "yesterday"))).getMessage().contains("nbf"));
    assertTrue(rejection(v, KEYS.sign(rs256(), claims(300).put("iat", new JsonArray()))).getMessage()
        .contains("iat"));
  }

  @Test
  void permissionNamesAreExactAndCaseSensitive() throws Exception {
    assertEquals(EnumSet.noneOf(Permission.class), TokenVerifier.permissions(new JsonObject().put("permissions",
        new JsonArray().add("ann").add("Dataset").add("adm").add(" ANN").add("ANN ").add(1))));
    assertEquals(EnumSet.noneOf(Permission.class), TokenVerifier.permissions(new JsonObject()
        .put("permissions", "ann dataset adm")));
    TokenVerifier.Caller lower = await(verifier(60_000).verify(KEYS.sign(rs256(), claims(300)
        .put("permissions", new JsonArray().add("ann").add("adm")))));
    assertEquals(Set.of(), lower.permissions(), "a valid token with lower-case names grants nothing");
  }

  @Test
  void tokenForTheReservedAnonymousSubjectIsRejected() throws Exception {
    Throwable e = rejection(verifier(60_000), KEYS.sign(rs256(), claims(300).put("sub", "anonymous")));
    assertTrue(e.getMessage().contains("reserved"), e.getMessage());
  }
}
