package io.osprey.config;

/** A configuration value that cannot be used; the message is one line naming the key and its environment variable. */
public final class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }
}
