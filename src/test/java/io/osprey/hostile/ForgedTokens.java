package io.osprey.hostile;

import io.osprey.auth.DevKeys;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Tokens an attacker forges, by kind. {@link #valid} is the one honest token (right key, issuer, audience, exact
 * permission names, short life); every other entry differs from it in one way and must be refused.
 */
final class ForgedTokens {
  static final String ISSUER = "https://id.osprey.test";
  static final String AUDIENCE = "osprey-annotations";

  private final DevKeys keys;
  private final DevKeys stranger = DevKeys.generate();

  ForgedTokens(DevKeys keys) {
    this.keys = keys;
  }

  private JsonObject header() {
    return new JsonObject().put("alg", "RS256").put("typ", "JWT").put("kid", keys.kid());
  }

  private static JsonObject claims() {
    long now = System.currentTimeMillis() / 1000;
    return new JsonObject().put("sub", "hostile").put("iss", ISSUER).put("aud", AUDIENCE).put("iat", now)
        .put("exp", now + 600).put("permissions", new JsonArray().add("ANN").add("DATASET").add("ADM"));
  }

  String valid() {
    return keys.sign(header(), claims());
  }

  private static String b64(String s) {
    return b64(s.getBytes(StandardCharsets.UTF_8));
  }

  private static String b64(byte[] b) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  private static String unsigned(JsonObject header, JsonObject claims, String signature) {
    return b64(header.encode()) + "." + b64(claims.encode()) + "." + signature;
  }

  private String hmacWithPublicKey(JsonObject claims) {
    try {
      JsonObject h = new JsonObject().put("alg", "HS256").put("typ", "JWT").put("kid", keys.kid());
      String input = b64(h.encode()) + "." + b64(claims.encode());
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(keys.publicKeyBytes(), "HmacSHA256"));
      return input + "." + b64(mac.doFinal(input.getBytes(StandardCharsets.US_ASCII)));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** The value of the Authorization header for each forged kind. */
  Map<String, String> all() {
    Map<String, String> t = new LinkedHashMap<>();
    long now = System.currentTimeMillis() / 1000;
    String good = valid();
    String[] parts = good.split("\\.");
    t.put("alg none, no signature", "Bearer " + unsigned(header().put("alg", "none"), claims(), ""));
    t.put("alg None (case), no signature", "Bearer " + unsigned(header().put("alg", "None"), claims(), ""));
    t.put("alg none, original signature", "Bearer " + unsigned(header().put("alg", "none"), claims(), parts[2]));
    t.put("HS256 keyed with the public key", "Bearer " + hmacWithPublicKey(claims()));
    t.put("signed by another key, same kid", "Bearer " + stranger.sign(header(), claims()));
    t.put("signed by another key, its own kid", "Bearer " + stranger.sign(header().put("kid", stranger.kid()),
        claims()));
    t.put("unknown kid", "Bearer " + keys.sign(header().put("kid", "no-such-key"), claims()));
    t.put("no kid, signed by another key", "Bearer " + stranger.sign(new JsonObject().put("alg", "RS256")
        .put("typ", "JWT"), claims()));
    t.put("claims changed after signing", "Bearer " + parts[0] + "." + b64(claims().put("sub", "root").encode())
        + "." + parts[2]);
    t.put("signature removed", "Bearer " + parts[0] + "." + parts[1] + ".");
    t.put("signature truncated", "Bearer " + parts[0] + "." + parts[1] + "." + parts[2].substring(0, 20));
    char[] sig = parts[2].toCharArray();
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    t.put("one signature character changed", "Bearer " + parts[0] + "." + parts[1] + "." + new String(sig));
    t.put("two segments", "Bearer " + parts[0] + "." + parts[1]);
    t.put("four segments", "Bearer " + good + ".extra");
    t.put("empty token", "Bearer ");
    t.put("scheme only", "Bearer");
    t.put("Basic scheme", "Basic " + Base64.getEncoder().encodeToString("admin:admin".getBytes()));
    t.put("header not base64url", "Bearer %%%." + parts[1] + "." + parts[2]);
    t.put("header not JSON", "Bearer " + b64("not json") + "." + parts[1] + "." + parts[2]);
    t.put("claims not JSON", "Bearer " + keys.sign(header(), new JsonObject()).split("\\.")[0] + "." + b64("[1,2")
        + "." + parts[2]);
    t.put("expired an hour ago", "Bearer " + keys.sign(header(), claims().put("exp", now - 3600)));
    t.put("not valid for an hour (nbf)", "Bearer " + keys.sign(header(), claims().put("nbf", now + 3600)));
    t.put("no exp", "Bearer " + keys.sign(header(), claims().copy().put("exp", (Object) null)));
    t.put("exp 1e20", "Bearer " + keys.sign(header(), claims().put("exp", 1e20)));
    t.put("exp ten years ahead", "Bearer " + keys.sign(header(), claims().put("exp", now + 10L * 365 * 86400)));
    t.put("exp as a string", "Bearer " + keys.sign(header(), claims().put("exp", "tomorrow")));
    t.put("crit names an unknown extension", "Bearer " + keys.sign(header().put("crit", new JsonArray().add("exp2"))
        .put("exp2", 1), claims()));
    t.put("crit empty", "Bearer " + keys.sign(header().put("crit", new JsonArray()), claims()));
    t.put("crit not an array", "Bearer " + keys.sign(header().put("crit", "b64"), claims()));
    t.put("b64 false (unencoded payload)", "Bearer " + keys.sign(header().put("b64", false)
        .put("crit", new JsonArray().add("b64")), claims()));
    t.put("wrong issuer", "Bearer " + keys.sign(header(), claims().put("iss", "https://evil.example")));
    t.put("no issuer", "Bearer " + keys.sign(header(), claims().copy().put("iss", (Object) null)));
    t.put("wrong audience", "Bearer " + keys.sign(header(), claims().put("aud", "someone-else")));
    t.put("audience array without ours", "Bearer " + keys.sign(header(), claims()
        .put("aud", new JsonArray().add("a").add("b"))));
    t.put("no audience", "Bearer " + keys.sign(header(), claims().copy().put("aud", (Object) null)));
    t.put("lower-case permissions", "Bearer " + keys.sign(header(), claims()
        .put("permissions", new JsonArray().add("ann").add("dataset").add("adm"))));
    t.put("permissions with spaces", "Bearer " + keys.sign(header(), claims()
        .put("permissions", new JsonArray().add(" ANN").add("ADM "))));
    t.put("permissions as one lower-case string", "Bearer " + keys.sign(header(), claims()
        .put("permissions", "ann,adm")));
    t.put("permissions as objects", "Bearer " + keys.sign(header(), claims()
        .put("permissions", new JsonArray().add(new JsonObject().put("name", "ANN")))));
    t.put("jku pointing elsewhere", "Bearer " + stranger.sign(header().put("kid", stranger.kid())
        .put("jku", "http://127.0.0.1:1/jwks.json"), claims()));
    t.put("embedded jwk header", "Bearer " + stranger.sign(header().put("kid", stranger.kid())
        .put("jwk", stranger.jwk()), claims()));
    t.put("x5u header", "Bearer " + stranger.sign(header().put("kid", stranger.kid())
        .put("x5u", "http://127.0.0.1:1/cert.pem"), claims()));
    t.put("ES256 label on an RSA signature", "Bearer " + unsigned(header().put("alg", "ES256"), claims(), parts[2]));
    t.put("PS256 label on an RS256 signature", "Bearer " + unsigned(header().put("alg", "PS256"), claims(), parts[2]));
    t.put("token of 7 KB", "Bearer " + keys.sign(header(), claims().put("pad", "p".repeat(5000))) + "x");
    return t;
  }
}
