package io.osprey.auth;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.auth.JWTOptions;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authentication.TokenCredentials;
import io.vertx.ext.auth.jwt.JWTAuth;
import io.vertx.ext.auth.jwt.JWTAuthOptions;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Verifies bearer tokens against a JWKS. Only asymmetric signatures (RS, PS, ES, EdDSA) from keys of the set are
 * accepted, which rules out {@code alg: none} and the HMAC-with-the-public-key confusion; a token must carry
 * {@code exp}. An unknown {@code kid} triggers one refetch of the set (key rotation), at most once per
 * {@code minRefetchMillis}, so a flood of forged kids cannot hammer the identity service.
 */
public final class TokenVerifier {
  private static final Logger LOG = LoggerFactory.getLogger(TokenVerifier.class);

  private final Vertx vertx;
  private final JwksSource source;
  private final long minRefetchMillis;
  private final int leewaySeconds;
  private volatile JWTAuth auth;
  private volatile Set<String> kids = Set.of();
  private volatile long lastFetch;
  private Future<Void> fetching;

  /** A token that is not acceptable, with the reason (never the token itself). */
  public static final class Rejected extends Exception {
    public Rejected(String reason) {
      super(reason, null, false, false);
    }
  }

  /** The caller as the service sees it. */
  public record Caller(String subject, Set<Permission> permissions, User user) {
    public boolean has(Permission p) {
      return permissions.contains(p);
    }
  }

  public TokenVerifier(Vertx vertx, JwksSource source, long minRefetchMillis, int leewaySeconds) {
    this.vertx = vertx;
    this.source = source;
    this.minRefetchMillis = minRefetchMillis;
    this.leewaySeconds = leewaySeconds;
  }

  public Future<Void> load() {
    return refresh(true);
  }

  private synchronized Future<Void> refresh(boolean force) {
    if (fetching != null) {
      return fetching;
    }
    long now = System.currentTimeMillis();
    if (!force && now - lastFetch < minRefetchMillis) {
      return Future.succeededFuture();
    }
    lastFetch = now;
    fetching = source.fetch().map(jwks -> {
      List<JsonObject> keys = new ArrayList<>();
      Set<String> ids = new HashSet<>();
      for (Object k : jwks.getJsonArray("keys", new JsonArray())) {
        JsonObject key = (JsonObject) k;
        String kty = key.getString("kty", "");
        if (kty.equals("oct")) {
          continue; // symmetric keys are never trusted for verification here
        }
        keys.add(key);
        if (key.getString("kid") != null) {
          ids.add(key.getString("kid"));
        }
      }
      auth = JWTAuth.create(vertx, new JWTAuthOptions().setJwks(keys)
          .setJWTOptions(new JWTOptions().setLeeway(leewaySeconds)));
      kids = ids;
      LOG.info("JWKS loaded from {}: {} key(s) {}", source.describe(), keys.size(), ids);
      return (Void) null;
    }).onFailure(e -> LOG.warn("JWKS from {} not loaded: {}", source.describe(), e.getMessage()))
        .onComplete(x -> {
          synchronized (this) {
            fetching = null;
          }
        });
    return fetching;
  }

  public Future<Caller> verify(String token) {
    JsonObject header;
    try {
      header = header(token);
    } catch (RuntimeException e) {
      return Future.failedFuture(new Rejected("malformed token"));
    }
    String alg = header.getString("alg", "");
    if (!(alg.startsWith("RS") || alg.startsWith("PS") || alg.startsWith("ES") || alg.equals("EdDSA"))) {
      return Future.failedFuture(new Rejected("signature algorithm '" + alg + "' is not accepted"));
    }
    String kid = header.getString("kid");
    Future<Void> keysReady = auth == null || (kid != null && !kids.contains(kid)) ? refresh(false)
        : Future.succeededFuture();
    return keysReady.recover(e -> Future.succeededFuture()).compose(x -> {
      JWTAuth current = auth;
      if (current == null) {
        return Future.failedFuture(new Rejected("no signing keys available from " + source.describe()));
      }
      if (kid != null && !kids.contains(kid)) {
        return Future.failedFuture(new Rejected("unknown key id"));
      }
      return current.authenticate(new TokenCredentials(token))
          .recover(e -> Future.failedFuture(new Rejected(e.getMessage() == null ? "invalid token" : e.getMessage())))
          .compose(user -> {
            JsonObject claims = user.attributes().getJsonObject("accessToken", user.principal());
            if (!claims.containsKey("exp")) {
              return Future.failedFuture(new Rejected("token has no expiry (exp)"));
            }
            String subject = subject(claims);
            if (subject == null) {
              return Future.failedFuture(new Rejected("token has no subject (sub)"));
            }
            return Future.succeededFuture(new Caller(subject, permissions(claims), user));
          });
    });
  }

  /** Claims that name the user, in order: JWT's own, then those ASP.NET Core identity issuers write. */
  private static final List<String> SUBJECT_CLAIMS = List.of("sub", "nameid",
      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "unique_name", "email");

  static String subject(JsonObject claims) {
    for (String name : SUBJECT_CLAIMS) {
      Object v = claims.getValue(name);
      if (v != null && !String.valueOf(v).isBlank()) {
        return String.valueOf(v);
      }
    }
    return null;
  }

  static Set<Permission> permissions(JsonObject claims) {
    Set<Permission> out = EnumSet.noneOf(Permission.class);
    Object raw = claims.getValue("permissions");
    List<Object> values = raw instanceof JsonArray a ? a.getList() : raw instanceof String s
        ? List.of((Object[]) s.split("[ ,]+")) : List.of();
    for (Object v : values) {
      try {
        out.add(Permission.valueOf(String.valueOf(v).trim().toUpperCase()));
      } catch (IllegalArgumentException ignored) {
        // permissions of other services are not ours to judge
      }
    }
    return out;
  }

  private static JsonObject header(String token) {
    int dot = token.indexOf('.');
    if (dot <= 0) {
      throw new IllegalArgumentException("no header");
    }
    return new JsonObject(new String(Base64.getUrlDecoder().decode(token.substring(0, dot)), StandardCharsets.UTF_8));
  }
}
