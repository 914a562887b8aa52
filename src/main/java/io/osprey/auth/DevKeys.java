package io.osprey.auth;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.math.BigInteger;
import java.util.Base64;
import java.util.Collection;
import java.util.UUID;

/**
 * Developer mode's identity: an RSA key pair kept in a folder (private key and the public JWKS the service reads),
 * and RS256 tokens signed with it for chosen permissions. Also used by tests to act as the identity service.
 * Run {@code java -cp target/osprey.jar io.osprey.auth.DevKeys [--dir var/dev-auth] [--sub alice]
 * [--permissions ANN,DATASET,ADM] [--minutes 60]} to print a token.
 */
public final class DevKeys {
  private final RSAPrivateKey privateKey;
  private final RSAPublicKey publicKey;
  private final String kid;

  public DevKeys(KeyPair pair, String kid) {
    this.privateKey = (RSAPrivateKey) pair.getPrivate();
    this.publicKey = (RSAPublicKey) pair.getPublic();
    this.kid = kid;
  }

  public static DevKeys generate() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
      g.initialize(2048);
      return new DevKeys(g.generateKeyPair(), "dev-" + UUID.randomUUID().toString().substring(0, 8));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** The key pair in {@code dir} (private.pk8, kid, jwks.json), created on first use. */
  public static DevKeys inFolder(Path dir) throws Exception {
    Path pk = dir.resolve("private.pk8");
    Path kidFile = dir.resolve("kid");
    if (Files.exists(pk) && Files.exists(kidFile)) {
      KeyFactory f = KeyFactory.getInstance("RSA");
      RSAPrivateKey priv = (RSAPrivateKey) f.generatePrivate(new PKCS8EncodedKeySpec(Files.readAllBytes(pk)));
      var crt = (java.security.interfaces.RSAPrivateCrtKey) priv;
      RSAPublicKey pub = (RSAPublicKey) f.generatePublic(new RSAPublicKeySpec(crt.getModulus(),
          crt.getPublicExponent()));
      return new DevKeys(new KeyPair(pub, priv), Files.readString(kidFile).strip());
    }
    DevKeys keys = generate();
    Files.createDirectories(dir);
    Files.write(pk, keys.privateKey.getEncoded());
    Files.writeString(kidFile, keys.kid);
    Files.writeString(dir.resolve("jwks.json"), keys.jwks().encodePrettily());
    return keys;
  }

  public String kid() {
    return kid;
  }

  public JsonObject jwk() {
    return new JsonObject().put("kty", "RSA").put("kid", kid).put("use", "sig").put("alg", "RS256")
        .put("n", b64(unsigned(publicKey.getModulus()))).put("e", b64(unsigned(publicKey.getPublicExponent())));
  }

  public JsonObject jwks() {
    return new JsonObject().put("keys", new JsonArray().add(jwk()));
  }

  /** An RS256 token for {@code sub} with these permissions, valid for {@code seconds} (negative: expired). */
  public String token(String sub, Collection<Permission> permissions, long seconds) {
    long now = System.currentTimeMillis() / 1000;
    JsonArray perms = new JsonArray();
    permissions.forEach(p -> perms.add(p.name()));
    return sign(new JsonObject().put("alg", "RS256").put("typ", "JWT").put("kid", kid),
        new JsonObject().put("sub", sub).put("iat", now).put("exp", now + seconds).put("permissions", perms));
  }

  /** Signs any header and claims with this key (tests use it to forge odd tokens). */
  public String sign(JsonObject header, JsonObject claims) {
    return signText(header.encode(), claims.encode());
  }

  /** Signs header and claims given as JSON text, byte for byte (numbers such as 1e400 that JsonObject cannot hold). */
  public String signText(String header, String claims) {
    String input = b64(header.getBytes(StandardCharsets.UTF_8)) + "." + b64(claims.getBytes(StandardCharsets.UTF_8));
    try {
      Signature s = Signature.getInstance("SHA256withRSA");
      s.initSign(privateKey);
      s.update(input.getBytes(StandardCharsets.US_ASCII));
      return input + "." + b64(s.sign());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public byte[] publicKeyBytes() {
    return publicKey.getEncoded();
  }

  static String b64(byte[] bytes) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  private static byte[] unsigned(BigInteger v) {
    byte[] b = v.toByteArray();
    return b.length > 1 && b[0] == 0 ? java.util.Arrays.copyOfRange(b, 1, b.length) : b;
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of("var", "dev-auth");
    String sub = "developer";
    String perms = "ANN,DATASET,ADM";
    long minutes = 60;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--dir" -> dir = Path.of(args[++i]);
        case "--sub" -> sub = args[++i];
        case "--permissions" -> perms = args[++i];
        case "--minutes" -> minutes = Long.parseLong(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    java.util.List<Permission> list = new java.util.ArrayList<>();
    for (String p : perms.split(",")) {
      if (!p.isBlank()) {
        list.add(Permission.valueOf(p.strip().toUpperCase()));
      }
    }
    System.out.println(inFolder(dir).token(sub, list, minutes * 60));
  }
}
