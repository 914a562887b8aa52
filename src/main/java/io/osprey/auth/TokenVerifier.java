package io.osprey.auth;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.auth.JWTOptions;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authentication.Credentials;
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
 * accepted, which rules out {@code alg: none} and the HMAC-with-the-public-key confusion. An unknown {@code kid}
 * triggers one refetch of the set (key rotation), at most once per {@code minRefetchMillis}, so a flood of forged
 * kids cannot hammer the identity service.
 *
 * <p>Beyond the signature (checked by vertx-auth-jwt, which also checks {@code iss} and {@code aud} against the
 * {@link Policy} and {@code exp}/{@code nbf}/{@code iat} against the clock), a token is refused when:
 * <ul>
 *   <li>its header has {@code crit}: RFC 7515 4.1.11 says a recipient must refuse extensions it does not
 *       understand, and this service understands none (a malformed {@code crit} is refused too);</li>
 *   <li>{@code exp} is missing (as ASP.NET Core's JwtBearer, the suite's other verifier, requires by default), not
 *       a finite number, or further ahead than {@link Policy#maxLifetimeSeconds()} plus the leeway: a forged or
 *       mis-issued token with {@code exp: 1e20} must not live for ever;</li>
 *   <li>{@code nbf}/{@code iat} are present but not finite numbers, {@code iss} is not a string or {@code aud} is
 *       neither a string nor an array of strings (shapes vertx-auth-jwt would otherwise trip over);</li>
 *   <li>its subject is {@code anonymous}, the owner the service records for callers without a token: such a token
 *       would see every anonymous upload and job.</li>
 * </ul>
 * The claim shapes are checked before the signature, which only ever refuses more, never accepts more.
 *
 * <p>It is the {@link JWTAuth} that vertx-web's {@code JWTAuthHandler} and {@code APIKeyHandler} authenticate
 * with (see {@link AuthHandler}). The key set is handed to vertx-auth-jwt as JWKs ({@code JWTAuthOptions.setJwks});
 * fetching and refreshing it stay here because vertx-auth-jwt 5 has neither, and vertx-auth-oauth2's
 * {@code jwkSet()}/{@code missingKeyHandler} only reloads after a token with a new kid has been refused, reads
 * http(s) sites only (no developer-mode file) and would trust symmetric keys of the set.
 */
public final class TokenVerifier implements JWTAuth {
  private static final Logger LOG = LoggerFactory.getLogger(TokenVerifier.class);

  private final Vertx vertx;
  private final JwksSource source;
  private final long minRefetchMillis;
  private final int leewaySeconds;
  private final Policy policy;
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

    /** The caller of a user this verifier authenticated (its verified claims are the {@code accessToken}). */
    public static Caller of(User user) {
      JsonObject verified = claims(user);
      return new Caller(TokenVerifier.subject(verified), TokenVerifier.permissions(verified), user);
    }
  }

  /** The verified claims of a user this verifier authenticated. */
  static JsonObject claims(User user) {
    return user.attributes().getJsonObject("accessToken", user.principal());
  }

  /**
   * What a token must say besides being signed: its issuer and audience (empty = not checked) and how far ahead
   * its {@code exp} may lie (auth.issuer, auth.audience, auth.max_token_lifetime_seconds).
   */
  public record Policy(String issuer, String audience, long maxLifetimeSeconds) {
    public static final Policy DEFAULT = new Policy("", "", 86_400);

    public Policy {
      issuer = issuer == null ? "" : issuer;
      audience = audience == null ? "" : audience;
      if (maxLifetimeSeconds <= 0) {
        throw new IllegalArgumentException("maxLifetimeSeconds must be positive");
      }
    }
  }

  public TokenVerifier(Vertx vertx, JwksSource source, long minRefetchMillis, int leewaySeconds) {
    this(vertx, source, minRefetchMillis, leewaySeconds, Policy.DEFAULT);
  }

  public TokenVerifier(Vertx vertx, JwksSource source, long minRefetchMillis, int leewaySeconds, Policy policy) {
    this.vertx = vertx;
    this.source = source;
    this.minRefetchMillis = minRefetchMillis;
    this.leewaySeconds = leewaySeconds;
    this.policy = policy;
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
      JWTOptions options = new JWTOptions().setLeeway(leewaySeconds);
      if (!policy.issuer().isEmpty()) {
        options.setIssuer(policy.issuer()); // iss must equal it exactly
      }
      if (!policy.audience().isEmpty()) {
        options.setAudience(List.of(policy.audience())); // aud (a string or an array) must contain it
      }
      auth = JWTAuth.create(vertx, new JWTAuthOptions().setJwks(keys).setJWTOptions(options));
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

  /** vertx-web's authentication handlers call this with the token they extracted. */
  @Override
  public Future<User> authenticate(Credentials credentials) {
    if (!(credentials instanceof TokenCredentials token) || token.getToken() == null) {
      return Future.failedFuture(new Rejected("no bearer token"));
    }
    return verify(token.getToken()).map(Caller::user);
  }

  /** This service only verifies tokens; the identity service issues them (its private key never comes here). */
  @Override
  public String generateToken(JsonObject claims, JWTOptions options) {
    throw new UnsupportedOperationException("tokens are issued by the identity service, not by Osprey");
  }

  @Override
  public String generateToken(JsonObject claims) {
    throw new UnsupportedOperationException("tokens are issued by the identity service, not by Osprey");
  }

  public Future<Caller> verify(String token) {
    JsonObject header;
    JsonObject claims;
    try {
      header = part(token, 0);
      claims = part(token, 1);
    } catch (RuntimeException e) {
      return Future.failedFuture(new Rejected("malformed token"));
    }
    String alg = header.getValue("alg") instanceof String a ? a : "";
    if (!(alg.startsWith("RS") || alg.startsWith("PS") || alg.startsWith("ES") || alg.equals("EdDSA"))) {
      return Future.failedFuture(new Rejected("signature algorithm '" + alg + "' is not accepted"));
    }
    String problem = criticalHeaderProblem(header);
    if (problem == null) {
      problem = claimsProblem(claims, System.currentTimeMillis() / 1000);
    }
    if (problem != null) {
      return Future.failedFuture(new Rejected(problem));
    }
    String kid = header.getValue("kid") instanceof String k ? k : null;
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
      Future<User> authenticated;
      try {
        authenticated = current.authenticate(new TokenCredentials(token));
      } catch (RuntimeException e) {
        // vertx-auth-jwt throws (rather than fails) on some claim shapes; whatever it is, the token is refused.
        authenticated = Future.failedFuture(e);
      }
      return authenticated
          .recover(e -> Future.failedFuture(new Rejected(e.getMessage() == null ? "invalid token" : e.getMessage())))
          .compose(user -> {
            String subject = subject(claims(user));
            if (subject == null) {
              return Future.failedFuture(new Rejected("token has no subject (sub)"));
            }
            if (subject.equals(io.osprey.http.CurrentUser.ANONYMOUS)) {
              return Future.failedFuture(new Rejected("subject '" + subject + "' is reserved for callers without a"
                  + " token"));
            }
            return Future.succeededFuture(Caller.of(user));
          });
    });
  }

  /**
   * Why the {@code crit} header makes the token unacceptable, or null when there is none. This service implements
   * no JWS extension, so any well-formed {@code crit} names one it does not understand (RFC 7515 4.1.11).
   */
  static String criticalHeaderProblem(JsonObject header) {
    if (!header.containsKey("crit")) {
      return null;
    }
    if (!(header.getValue("crit") instanceof JsonArray crit) || crit.isEmpty()
        || crit.stream().anyMatch(v -> !(v instanceof String s) || s.isEmpty())) {
      return "header crit must be a non-empty array of extension names";
    }
    String names = crit.encode();
    return "header crit names extension(s) this service does not understand: "
        + (names.length() <= 200 ? names : names.substring(0, 200) + "...");
  }

  /** Why the claims make the token unacceptable before its signature is even checked, or null. */
  String claimsProblem(JsonObject claims, long nowSeconds) {
    if (!claims.containsKey("exp")) {
      return "token has no expiry (exp)";
    }
    Double exp = numericDate(claims.getValue("exp"));
    if (exp == null) {
      return "exp must be a finite number of seconds (NumericDate)";
    }
    long latest = nowSeconds + policy.maxLifetimeSeconds() + leewaySeconds;
    if (exp > latest) {
      return "exp lies more than " + policy.maxLifetimeSeconds() + " s ahead (auth.max_token_lifetime_seconds)";
    }
    for (String name : List.of("nbf", "iat")) {
      if (claims.containsKey(name) && numericDate(claims.getValue(name)) == null) {
        return name + " must be a finite number of seconds (NumericDate)";
      }
    }
    if (claims.containsKey("iss") && !(claims.getValue("iss") instanceof String)) {
      return "iss must be a string";
    }
    Object aud = claims.getValue("aud");
    if (aud != null && !(aud instanceof String)
        && !(aud instanceof JsonArray a && a.stream().allMatch(v -> v instanceof String))) {
      return "aud must be a string or an array of strings";
    }
    return null;
  }

  private static Double numericDate(Object value) {
    return value instanceof Number n && Double.isFinite(n.doubleValue()) ? n.doubleValue() : null;
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

  /**
   * The permissions named in the {@code permissions} claim (an array, or one string separated by spaces or commas).
   * Names are exact and case-sensitive, as the identity service writes them: {@code ann} or {@code Adm} grant
   * nothing, and neither do non-string entries.
   */
  static Set<Permission> permissions(JsonObject claims) {
    Set<Permission> out = EnumSet.noneOf(Permission.class);
    Object raw = claims.getValue("permissions");
    List<Object> values = raw instanceof JsonArray a ? a.getList() : raw instanceof String s
        ? List.of((Object[]) s.strip().split("[ ,]+")) : List.of();
    for (Object v : values) {
      if (v instanceof String name) {
        Permission.byExactName(name).ifPresent(out::add);
      } // permissions of other services are not ours to judge
    }
    return out;
  }

  /** The JSON object of the token's {@code index}-th dot-separated part (0 header, 1 claims). */
  private static JsonObject part(String token, int index) {
    String[] parts = token.split("\\.", -1);
    if (parts.length != 3 || parts[index].isEmpty()) {
      throw new IllegalArgumentException("not a JWS in compact form");
    }
    return new JsonObject(new String(Base64.getUrlDecoder().decode(parts[index]), StandardCharsets.UTF_8));
  }
}
