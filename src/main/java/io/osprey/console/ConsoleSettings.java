package io.osprey.console;

import io.osprey.config.Config;

/**
 * The console.* keys. {@code devTokenFile} is set only by {@code scripts/run.sh} in developer mode (a local key set
 * in auth.jwks_file); with it, a loopback-only route hands the console the developer token.
 */
public record ConsoleSettings(boolean enabled, int cacheSeconds, String devTokenFile, boolean developerKeys) {

  public static ConsoleSettings from(Config config) {
    return new ConsoleSettings(config.bool("console.enabled"), config.integer("console.cache_seconds"),
        config.string("console.dev_token_file"), !config.string("auth.jwks_file").isBlank());
  }
}
