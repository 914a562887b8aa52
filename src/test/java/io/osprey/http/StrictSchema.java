package io.osprey.http;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Checks served JSON against a schema of openapi.yaml as if every object schema said
 * {@code additionalProperties: false} (unless it gives an {@code additionalProperties} schema or {@code true}):
 * a served field the document does not list is a problem, and so is a required one that is missing. It also
 * remembers, per named schema, which documented properties were ever served, so a test can find documented
 * fields that nothing serves. OpenAPI 3.0 subset used by the document: $ref, allOf, oneOf, anyOf, nullable,
 * properties, required, additionalProperties, items, type, enum.
 */
final class StrictSchema {
  private final Map<String, Object> schemas;
  /** Named schema → documented properties; and those seen in at least one served object. */
  private final Map<String, Set<String>> documented = new LinkedHashMap<>();
  private final Map<String, Set<String>> served = new LinkedHashMap<>();

  @SuppressWarnings("unchecked")
  StrictSchema(Map<String, Object> document) {
    Map<String, Object> components = (Map<String, Object>) document.get("components");
    this.schemas = (Map<String, Object>) components.get("schemas");
  }

  /** Problems of {@code value} against the named component schema; empty if it matches exactly. */
  List<String> check(Object value, String schemaName) {
    List<String> problems = new ArrayList<>();
    walk(value, ref(schemaName), schemaName, "$", problems, true);
    return problems;
  }

  /** Problems of {@code value} against a schema object of the document (a response's schema). */
  List<String> check(Object value, Map<String, Object> schema) {
    List<String> problems = new ArrayList<>();
    walk(value, schema, refName(schema), "$", problems, true);
    return problems;
  }

  /** Documented properties of the schemas checked so far that no served object of that schema had. */
  Map<String, Set<String>> neverServed() {
    Map<String, Set<String>> out = new LinkedHashMap<>();
    documented.forEach((name, props) -> {
      Set<String> missing = new TreeSet<>(props);
      missing.removeAll(served.getOrDefault(name, Set.of()));
      if (!missing.isEmpty()) {
        out.put(name, missing);
      }
    });
    return out;
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> ref(String name) {
    Map<String, Object> s = (Map<String, Object>) schemas.get(name);
    if (s == null) {
      throw new IllegalArgumentException("no schema " + name);
    }
    return s;
  }

  private static String refName(Map<String, Object> schema) {
    Object r = schema.get("$ref");
    return r instanceof String s && s.startsWith("#/components/schemas/")
        ? s.substring("#/components/schemas/".length()) : null;
  }

  @SuppressWarnings("unchecked")
  private void walk(Object value, Map<String, Object> schema, String name, String path, List<String> problems,
                    boolean record) {
    String ref = refName(schema);
    if (ref != null) {
      walk(value, ref(ref), ref, path, problems, record);
      return;
    }
    if (value == null) {
      if (!Boolean.TRUE.equals(schema.get("nullable")) && !hasNullableBranch(schema)) {
        problems.add(path + ": null is served but the schema is not nullable");
      }
      return;
    }
    for (String choice : List.of("oneOf", "anyOf")) {
      if (schema.get(choice) instanceof List<?> branches) {
        // The branch with fewest problems is the one the value was meant to be (a discriminator would agree).
        List<String> best = null;
        Map<String, Object> bestBranch = null;
        for (Object b : branches) {
          List<String> p = new ArrayList<>();
          walk(value, (Map<String, Object>) b, name, path, p, false);
          if (best == null || p.size() < best.size()) {
            best = p;
            bestBranch = (Map<String, Object>) b;
          }
        }
        walk(value, bestBranch, name, path, new ArrayList<>(), record);
        problems.addAll(best);
        return;
      }
    }
    if (schema.get("allOf") instanceof List<?> parts) {
      walk(value, merged(schema, (List<Object>) parts), name, path, problems, record);
      return;
    }
    Object type = schema.get("type");
    if (value instanceof JsonObject o) {
      if (type != null && !"object".equals(type)) {
        problems.add(path + ": an object is served where the schema says " + type);
        return;
      }
      Map<String, Object> props = schema.get("properties") instanceof Map<?, ?> m ? (Map<String, Object>) m
          : Map.of();
      Object additional = schema.get("additionalProperties");
      if (record && name != null && !props.isEmpty()) {
        documented.computeIfAbsent(name, k -> new TreeSet<>()).addAll(props.keySet());
        served.computeIfAbsent(name, k -> new TreeSet<>()).addAll(o.fieldNames());
      }
      for (String key : o.fieldNames()) {
        if (props.containsKey(key)) {
          Map<String, Object> child = (Map<String, Object>) props.get(key);
          walk(o.getValue(key), child, refName(child), path + "." + key, problems, record);
        } else if (additional instanceof Map<?, ?> a) {
          walk(o.getValue(key), (Map<String, Object>) a, refName((Map<String, Object>) a), path + "." + key,
              problems, record);
        } else if (!Boolean.TRUE.equals(additional)) {
          problems.add(path + "." + key + ": served but not documented");
        }
      }
      if (schema.get("required") instanceof List<?> required) {
        for (Object r : required) {
          if (!o.containsKey((String) r)) {
            problems.add(path + "." + r + ": documented as required but not served");
          }
        }
      }
      return;
    }
    if (value instanceof JsonArray a) {
      if (type != null && !"array".equals(type)) {
        problems.add(path + ": an array is served where the schema says " + type);
        return;
      }
      if (schema.get("items") instanceof Map<?, ?> items) {
        for (int i = 0; i < a.size(); i++) {
          walk(a.getValue(i), (Map<String, Object>) items, refName((Map<String, Object>) items), path + "[" + i + "]",
              problems, record);
        }
      }
      return;
    }
    String actual = value instanceof String ? "string" : value instanceof Boolean ? "boolean"
        : value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) ? "integer" : "number";
    if (type != null && !type.equals(actual) && !("number".equals(type) && "integer".equals(actual))) {
      problems.add(path + ": a " + actual + " is served where the schema says " + type);
    }
    if (schema.get("enum") instanceof List<?> values && !values.contains(value)
        && !values.stream().anyMatch(v -> String.valueOf(v).equals(String.valueOf(value)))) {
      problems.add(path + ": " + value + " is not one of " + values);
    }
  }

  private boolean hasNullableBranch(Map<String, Object> schema) {
    for (String key : List.of("allOf", "oneOf", "anyOf")) {
      if (schema.get(key) instanceof List<?> parts) {
        for (Object p : parts) {
          @SuppressWarnings("unchecked")
          Map<String, Object> part = (Map<String, Object>) p;
          String r = refName(part);
          Map<String, Object> s = r == null ? part : ref(r);
          if (Boolean.TRUE.equals(s.get("nullable"))) {
            return true;
          }
        }
      }
    }
    return false;
  }

  /** allOf as one object schema: the union of the parts' properties and required lists. */
  @SuppressWarnings("unchecked")
  private Map<String, Object> merged(Map<String, Object> schema, List<Object> parts) {
    Map<String, Object> props = new LinkedHashMap<>();
    Set<Object> required = new LinkedHashSet<>();
    Map<String, Object> out = new LinkedHashMap<>(schema);
    out.remove("allOf");
    for (Object p : parts) {
      Map<String, Object> part = (Map<String, Object>) p;
      String r = refName(part);
      Map<String, Object> s = r == null ? part : ref(r);
      if (s.get("allOf") instanceof List<?> inner) {
        s = merged(s, (List<Object>) inner);
      }
      if (s.get("oneOf") != null || s.get("anyOf") != null) {
        // A choice inside allOf (JobListItem = JobStatus + fields): keep the choice, add the other fields to each.
        return withExtra(s, parts, part);
      }
      if (s.get("properties") instanceof Map<?, ?> m) {
        props.putAll((Map<String, Object>) m);
      }
      if (s.get("required") instanceof List<?> req) {
        required.addAll(req);
      }
      for (String k : List.of("type", "additionalProperties", "items", "enum", "nullable")) {
        if (s.containsKey(k)) {
          out.putIfAbsent(k, s.get(k));
        }
      }
    }
    if (!props.isEmpty()) {
      out.put("properties", props);
    }
    if (!required.isEmpty()) {
      out.put("required", new ArrayList<>(required));
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> withExtra(Map<String, Object> choice, List<Object> parts, Object choicePart) {
    List<Object> others = new ArrayList<>(parts);
    others.remove(choicePart);
    String key = choice.get("oneOf") != null ? "oneOf" : "anyOf";
    List<Object> branches = new ArrayList<>();
    for (Object b : (List<Object>) choice.get(key)) {
      List<Object> all = new ArrayList<>(others);
      all.add(b);
      branches.add(Map.of("allOf", all));
    }
    return Map.of(key, branches);
  }
}
