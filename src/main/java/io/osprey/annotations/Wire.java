package io.osprey.annotations;

import io.vertx.core.MultiMap;
import io.vertx.core.json.JsonObject;
import java.util.Locale;
import java.util.Map;

/**
 * Request binding as ASP.NET Core does it for the original service's clients: JSON property names and query
 * parameters match case-insensitively ({@code mediaId}, {@code MediaId} and {@code mediaid} are one field).
 */
final class Wire {
  private Wire() {
  }

  /** A copy of {@code o} with lower-case keys (values untouched). */
  static JsonObject ci(JsonObject o) {
    JsonObject out = new JsonObject();
    for (Map.Entry<String, Object> e : o) {
      out.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
    }
    return out;
  }

  static String query(MultiMap params, String name) {
    for (Map.Entry<String, String> e : params) {
      if (e.getKey().equalsIgnoreCase(name)) {
        String v = e.getValue();
        return v == null || v.isBlank() ? null : v.strip();
      }
    }
    return null;
  }

  /** An optional string field; a value of another type is reported and read as absent. */
  static String string(JsonObject ci, String field, java.util.List<String> errors) {
    Object v = ci.getValue(field.toLowerCase(Locale.ROOT));
    if (v == null) {
      return null;
    }
    if (!(v instanceof String s)) {
      errors.add(field + ": must be a string");
      return null;
    }
    if (s.length() > 1000) {
      errors.add(field + ": at most 1000 characters");
      return null;
    }
    return s.isBlank() ? null : s.strip();
  }
}
