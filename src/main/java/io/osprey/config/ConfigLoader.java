package io.osprey.config;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the effective configuration: the packaged defaults ({@code conf/osprey.json}), then the JSON file named by
 * {@code OSPREY_CONFIG} if any, then one {@code OSPREY_<SECTION>_<KEY>} environment variable per key.
 */
public final class ConfigLoader {
  private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);
  static final String DEFAULTS_RESOURCE = "conf/osprey.json";
  public static final String CONFIG_FILE_ENV = "OSPREY_CONFIG";
  /** Variables read by other parts (the config file, logback) that are not configuration keys. */
  private static final java.util.Set<String> NOT_KEYS = java.util.Set.of(CONFIG_FILE_ENV, "OSPREY_LOG_LEVEL");

  private ConfigLoader() {
  }

  public static Config load(Map<String, String> env) {
    JsonObject merged = defaults();
    String file = env.get(CONFIG_FILE_ENV);
    if (file != null && !file.isBlank()) {
      overlay(merged, readFile(Path.of(file)), file);
    }
    for (ConfigKeys.Key key : ConfigKeys.all()) {
      String value = env.get(key.envVar());
      if (value == null && ConfigKeys.alias(key.name()) != null) {
        value = env.get(ConfigKeys.alias(key.name()));
      }
      if (value != null) {
        put(merged, key.name(), parse(key, value.trim()));
      }
    }
    env.keySet().stream()
        .filter(name -> name.startsWith("OSPREY_") && !NOT_KEYS.contains(name) && !name.startsWith("OSPREY_TEST_"))
        .filter(name -> ConfigKeys.all().stream().noneMatch(k -> k.envVar().equals(name)))
        .forEach(name -> LOG.warn("environment variable {} matches no configuration key; ignored", name));
    return validate(merged);
  }

  public static JsonObject defaults() {
    try (InputStream in = ConfigLoader.class.getClassLoader().getResourceAsStream(DEFAULTS_RESOURCE)) {
      if (in == null) {
        throw new ConfigException("packaged defaults " + DEFAULTS_RESOURCE + " are missing from the classpath");
      }
      return new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new ConfigException("cannot read packaged defaults: " + e.getMessage());
    }
  }

  private static JsonObject readFile(Path file) {
    try {
      return new JsonObject(Files.readString(file));
    } catch (IOException e) {
      throw new ConfigException(CONFIG_FILE_ENV + "=" + file + ": cannot read file (" + e.getMessage() + ")");
    } catch (DecodeException e) {
      throw new ConfigException(CONFIG_FILE_ENV + "=" + file + ": not valid JSON (" + e.getMessage() + ")");
    }
  }

  /** Copies the leaves of {@code source} into {@code target}, refusing keys the service does not know. */
  static void overlay(JsonObject target, JsonObject source, String origin) {
    flatten("", source, (name, value) -> {
      ConfigKeys.Key key = ConfigKeys.get(name);
      if (key == null) {
        throw new ConfigException(origin + ": unknown configuration key '" + name + "'");
      }
      put(target, name, value instanceof String s ? parse(key, s) : value);
    });
  }

  private interface LeafVisitor {
    void visit(String name, Object value);
  }

  private static void flatten(String prefix, JsonObject object, LeafVisitor visitor) {
    for (String field : object.fieldNames()) {
      Object value = object.getValue(field);
      String name = prefix.isEmpty() ? field : prefix + "." + field;
      if (value instanceof JsonObject nested) {
        flatten(name, nested, visitor);
      } else {
        visitor.visit(name, value);
      }
    }
  }

  private static Object parse(ConfigKeys.Key key, String text) {
    return switch (key.type()) {
      case STRING -> text;
      case INT, LONG -> {
        try {
          yield Long.parseLong(text);
        } catch (NumberFormatException e) {
          throw invalid(key, text, "must be a whole number " + key.min() + ".." + key.max());
        }
      }
      case BOOL -> {
        if (text.equalsIgnoreCase("true") || text.equals("1")) {
          yield true;
        }
        if (text.equalsIgnoreCase("false") || text.equals("0")) {
          yield false;
        }
        throw invalid(key, text, "must be true or false");
      }
    };
  }

  static Config validate(JsonObject merged) {
    for (ConfigKeys.Key key : ConfigKeys.all()) {
      Object value = lookup(merged, key.name());
      if (value == null) {
        throw new ConfigException(key.name() + " (" + key.envVar() + ") has no value");
      }
      switch (key.type()) {
        case STRING -> {
          if (!(value instanceof String s)) {
            throw invalid(key, value, "must be a string");
          }
          if (!key.allowEmpty() && s.isBlank()) {
            throw invalid(key, value, "must not be empty");
          }
          List<String> choices = ConfigKeys.choices(key.name());
          if (!choices.isEmpty() && !choices.contains(s.strip().toLowerCase(java.util.Locale.ROOT))) {
            throw invalid(key, value, "must be one of " + String.join(", ", choices));
          }
        }
        case INT, LONG -> {
          if (!(value instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw invalid(key, value, "must be a whole number " + key.min() + ".." + key.max());
          }
          long v = n.longValue();
          if (v < key.min() || v > key.max()) {
            throw invalid(key, value, "must be between " + key.min() + " and " + key.max());
          }
        }
        case BOOL -> {
          if (!(value instanceof Boolean)) {
            throw invalid(key, value, "must be true or false");
          }
        }
      }
    }
    try {
      CorsOrigins.parse((String) lookup(merged, "http.cors_origins"));
    } catch (IllegalArgumentException e) {
      throw invalid(ConfigKeys.all().stream().filter(k -> k.name().equals("http.cors_origins")).findFirst()
          .orElseThrow(), lookup(merged, "http.cors_origins"), e.getMessage());
    }
    if (((Number) lookup(merged, "uploads.min_dimension")).longValue()
        > ((Number) lookup(merged, "uploads.max_dimension")).longValue()) {
      throw new ConfigException("uploads.min_dimension (OSPREY_UPLOADS_MIN_DIMENSION) must not exceed "
          + "uploads.max_dimension (OSPREY_UPLOADS_MAX_DIMENSION)");
    }
    return new Config(merged);
  }

  private static ConfigException invalid(ConfigKeys.Key key, Object value, String rule) {
    String shown = key.name().endsWith("password") ? "***" : String.valueOf(value);
    return new ConfigException(key.name() + " (" + key.envVar() + ") = '" + shown + "': " + rule);
  }

  static Object lookup(JsonObject root, String dotted) {
    String[] parts = dotted.split("\\.");
    Object current = root;
    for (String part : parts) {
      if (!(current instanceof JsonObject object)) {
        return null;
      }
      current = object.getValue(part);
    }
    return current;
  }

  private static void put(JsonObject root, String dotted, Object value) {
    String[] parts = dotted.split("\\.");
    JsonObject current = root;
    for (int i = 0; i < parts.length - 1; i++) {
      JsonObject next = current.getJsonObject(parts[i]);
      if (next == null) {
        next = new JsonObject();
        current.put(parts[i], next);
      }
      current = next;
    }
    current.put(parts[parts.length - 1], value);
  }
}
