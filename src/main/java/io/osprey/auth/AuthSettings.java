package io.osprey.auth;

import io.osprey.config.Config;

/** The auth.* keys: where the key set comes from, the token policy, and whether the inference API needs a token. */
public record AuthSettings(String jwksFile, String jwksUrl, long jwksMinRefetchMs, int leewaySeconds,
                           TokenVerifier.Policy policy, boolean inferenceApiRequired) {

  public static AuthSettings from(Config config) {
    return new AuthSettings(config.string("auth.jwks_file"), config.string("auth.jwks_url"),
        config.integer("auth.jwks_min_refetch_seconds") * 1000L, config.integer("auth.leeway_seconds"),
        new TokenVerifier.Policy(config.string("auth.issuer"), config.string("auth.audience"),
            config.integer("auth.max_token_lifetime_seconds")),
        config.string("auth.inference_api").equals("required"));
  }
}
