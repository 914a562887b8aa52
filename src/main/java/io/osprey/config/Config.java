package io.osprey.config;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;

/** The effective, validated configuration: typed reads by dotted key. */
public final class Config {
  private final JsonObject root;

  Config(JsonObject root) {
    this.root = root;
  }

  public JsonObject asJson() {
    return root.copy();
  }

  public String string(String key) {
    return String.valueOf(raw(key));
  }

  public int integer(String key) {
    return ((Number) raw(key)).intValue();
  }

  public long longValue(String key) {
    return ((Number) raw(key)).longValue();
  }

  public boolean bool(String key) {
    return (Boolean) raw(key);
  }

  public Path path(String key) {
    return Path.of(string(key)).toAbsolutePath().normalize();
  }

  /** A copy with some keys replaced, validated like the original (tests use it for ports and database names). */
  public Config with(JsonObject overrides) {
    JsonObject merged = root.copy();
    ConfigLoader.overlay(merged, overrides, "override");
    return ConfigLoader.validate(merged);
  }

  private Object raw(String key) {
    if (ConfigKeys.get(key) == null) {
      throw new IllegalArgumentException("unknown configuration key " + key);
    }
    Object value = ConfigLoader.lookup(root, key);
    if (value == null) {
      throw new IllegalStateException("configuration key " + key + " has no value");
    }
    return value;
  }
}
