package io.osprey.auth;

import io.osprey.module.OspreyModule;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.osprey.http.CurrentUser;
import io.osprey.http.Responses;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.nio.file.Path;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Token verification for every module that checks callers, and the guard of the inference API
 * ({@code /api/v1/*}, token required or optional per auth.inference_api). Mounted first, so the guard runs before
 * any inference route reads a body.
 */
public final class AuthModule implements OspreyModule {
  private static final Logger LOG = LoggerFactory.getLogger(AuthModule.class);
  /** Event streams take their token from the query too (EventSource cannot send headers). */
  private static final Predicate<String> EVENT_STREAMS = path -> path.endsWith("/events");

  private final TokenVerifier verifier;
  private final AuthHandler inferenceGuard;
  private final boolean guardsApi;
  private final boolean tokenRequired;

  /** {@code guardsApi}: whether this process serves the inference API (the guard is mounted only then). */
  public AuthModule(Vertx vertx, AuthSettings settings, boolean guardsApi) {
    this.verifier = new TokenVerifier(vertx, jwksSource(vertx, settings), settings.jwksMinRefetchMs(),
        settings.leewaySeconds(), settings.policy());
    this.inferenceGuard = settings.inferenceApiRequired() ? AuthHandler.required(verifier, EVENT_STREAMS)
        : AuthHandler.optional(verifier, EVENT_STREAMS);
    this.guardsApi = guardsApi;
    this.tokenRequired = settings.inferenceApiRequired();
  }

  public TokenVerifier verifier() {
    return verifier;
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    // An unreachable key set does not stop the start: the verifier fetches it again when a token needs it.
    return verifier.load().<Void>mapEmpty().otherwise(e -> null);
  }

  @Override
  public void mount(Router router) {
    if (guardsApi) {
      inferenceGuard.guard(router.route("/api/v1/*"));
      // Who the token says the caller is, as the server verified it: clients (the console) show and hide what the
      // caller may do from this instead of decoding the token themselves.
      router.get("/api/v1/me").handler(ctx -> {
        TokenVerifier.Caller caller = AuthHandler.caller(ctx);
        JsonArray permissions = new JsonArray();
        if (caller != null) {
          caller.permissions().stream().map(Enum::name).sorted().forEach(permissions::add);
        }
        Responses.json(ctx, 200, new JsonObject()
            .put("subject", caller == null ? CurrentUser.ANONYMOUS : caller.subject())
            .put("anonymous", caller == null)
            .put("permissions", permissions)
            .put("token_required", tokenRequired));
      });
    }
  }

  private static JwksSource jwksSource(Vertx vertx, AuthSettings settings) {
    if (!settings.jwksFile().isBlank()) {
      LOG.warn("developer mode: tokens are verified against the local key set {}", settings.jwksFile());
      return JwksSource.file(vertx, Path.of(settings.jwksFile()));
    }
    if (!settings.jwksUrl().isBlank()) {
      return JwksSource.url(vertx, settings.jwksUrl());
    }
    LOG.warn("no JWKS configured (JWT_JWKS_URL / auth.jwks_url): every route that needs a token answers 401");
    return JwksSource.none();
  }
}
