package io.osprey.http;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The request side of {@code openapi.yaml}, enforced: a JSON body is checked against the schema its operation
 * documents, with vertx-openapi's contract and vertx-json-schema's validator, so the document and the service cannot
 * disagree about which fields exist, their types and ranges. Every problem comes back as a {@link Problem} naming
 * the field the way the service always has ({@code config.sahi.slice_width}, {@code file_ids[2]}); the route turns
 * them into its own code (INVALID_CONFIG for predict). Checks the schema cannot express (one field that needs
 * another, a name that must exist on disk) stay with the route.
 *
 * <p>The body is validated as the route already parsed it ({@link JsonBodies} raises Jackson's string limit for
 * base64 images), rather than through {@code RequestValidator}, which would parse it a second time with the default
 * limits. The contract is loaded once per HTTP verticle and put on each request's context by {@link #handle}.
 */
public final class RequestContract implements Handler<RoutingContext> {
  private static final String KEY = RequestContract.class.getName();
  /** Keywords whose failure only says that something below them failed; the failure below is the one to show. */
  private static final Set<String> AGGREGATES = Set.of("$ref", "allOf", "anyOf", "properties", "items",
      "additionalProperties", "patternProperties");

  /** One field that breaks the contract: its path ({@code config.confidence}, {@code file_ids[1]}) and why. */
  public record Problem(String field, String message) {
  }

  private final Map<String, Validator> bodies = new HashMap<>();

  private RequestContract(OpenAPIContract contract) {
    for (Operation op : contract.operations()) {
      MediaType json = op.getRequestBody() == null ? null
          : op.getRequestBody().getContent().get(MediaType.APPLICATION_JSON);
      if (json != null && json.getSchema() != null) {
        // The contract's repository has every component schema of the document, so $refs resolve.
        bodies.put(op.getOperationId(), contract.getSchemaRepository().validator(json.getSchema()));
      }
    }
  }

  /**
   * Reads and resolves {@code openapi.yaml} from the class path (off the event loop). vertx-openapi refuses a
   * document that names media types it cannot validate (event streams, images, zip, CSV, YAML), so those entries
   * are left out of the copy it loads; the served document keeps them. vertx-json-schema does not read OpenAPI
   * 3.0's {@code nullable}, so in that copy a nullable schema becomes "that schema, or null".
   */
  public static Future<RequestContract> load(Vertx vertx) {
    return vertx.executeBlocking(RequestContract::readDocument, false)
        .compose(doc -> OpenAPIContract.from(vertx, doc))
        .map(RequestContract::new);
  }

  /** {@code openapi.yaml} as JSON, without the content entries vertx-openapi cannot load. */
  private static JsonObject readDocument() throws java.io.IOException {
    try (java.io.InputStream in = RequestContract.class.getClassLoader()
        .getResourceAsStream(OpenApiDocument.RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(OpenApiDocument.RESOURCE + " is missing from the class path");
      }
      Object yaml = new org.yaml.snakeyaml.Yaml().load(in);
      JsonObject doc = new JsonObject(io.vertx.core.json.Json.encode(yaml));
      dropUnsupportedContent(doc);
      return (JsonObject) nullable(doc);
    }
  }

  /** {@code {nullable: true, ...s}} becomes {@code {anyOf: [s, {enum: [null]}]}}, everywhere in the document. */
  private static Object nullable(Object node) {
    if (node instanceof JsonArray a) {
      JsonArray out = new JsonArray();
      a.forEach(v -> out.add(nullable(v)));
      return out;
    }
    if (!(node instanceof JsonObject o)) {
      return node;
    }
    JsonObject out = new JsonObject();
    o.forEach(e -> out.put(e.getKey(), nullable(e.getValue())));
    if (Boolean.TRUE.equals(out.getValue("nullable")) && out.getValue("$ref") == null) {
      out.remove("nullable");
      return new JsonObject().put("anyOf", new JsonArray().add(out)
          .add(new JsonObject().put("enum", new JsonArray().addNull())));
    }
    return out;
  }

  private static void dropUnsupportedContent(Object node) {
    if (node instanceof JsonObject o) {
      JsonObject content = o.getValue("content") instanceof JsonObject c ? c : null;
      if (content != null) {
        content.fieldNames().removeIf(type -> !MediaType.isMediaTypeSupported(type));
        if (content.isEmpty()) {
          o.remove("content");
        }
      }
      o.forEach(e -> dropUnsupportedContent(e.getValue()));
    } else if (node instanceof JsonArray a) {
      a.forEach(RequestContract::dropUnsupportedContent);
    }
  }

  /** The contract of the verticle serving this request. */
  public static RequestContract of(RoutingContext ctx) {
    RequestContract c = ctx.get(KEY);
    if (c == null) {
      throw new IllegalStateException("RequestContract is not installed on this router");
    }
    return c;
  }

  @Override
  public void handle(RoutingContext ctx) {
    ctx.put(KEY, this);
    ctx.next();
  }

  /** Every way {@code body} breaks the JSON schema of operation {@code operationId}'s request body; empty if none. */
  public List<Problem> check(String operationId, Object body) {
    Validator validator = bodies.get(operationId);
    if (validator == null) {
      throw new IllegalArgumentException("openapi.yaml has no JSON request body for operation " + operationId);
    }
    OutputUnit result = validator.validate(body);
    if (Boolean.TRUE.equals(result.getValid())) {
      return List.of();
    }
    List<OutputUnit> units = result.getErrors() == null || result.getErrors().isEmpty() ? List.of(result)
        : result.getErrors();
    // One message per field; the specific failure wins over a keyword that only reports a failure below it.
    Map<String, Problem> byField = new LinkedHashMap<>();
    List<Problem> unknown = new ArrayList<>();
    for (OutputUnit unit : units) {
      String keyword = lastSegment(unit.getKeywordLocation());
      if ("enum".equals(keyword) && unit.getError() != null && unit.getError().endsWith("[null]")) {
        continue; // the "or null" branch of a nullable field: the other branch's failure says what is wrong
      } else if (isUnknownField(unit)) {
        unknown.add(problem(body, unit));
      } else if (!AGGREGATES.contains(keyword)) {
        Problem p = problem(body, unit);
        byField.putIfAbsent(p.field(), p);
      }
    }
    // vertx-json-schema also lists a documented property under additionalProperties when its value failed; only a
    // field with no problem of its own (at or below it) is really unknown.
    // (Every problem's field and its ancestors, in a set: a body of many bad fields costs linear time, not square.)
    Set<String> explained = new java.util.HashSet<>(byField.keySet());
    byField.keySet().forEach(f -> addAncestors(f, explained));
    unknown.forEach(p -> addAncestors(p.field(), explained));
    for (Problem p : unknown) {
      if (!explained.contains(p.field())) {
        byField.putIfAbsent(p.field(), p);
      }
    }
    if (byField.isEmpty()) {
      Problem p = problem(body, units.get(0));
      byField.put(p.field(), p);
    }
    return new ArrayList<>(byField.values());
  }

  private static void addAncestors(String field, Set<String> into) {
    for (int i = 0; i < field.length(); i++) {
      if (field.charAt(i) == '.' || field.charAt(i) == '[') {
        into.add(field.substring(0, i));
      }
    }
  }

  private static boolean isUnknownField(OutputUnit unit) {
    return unit.getError() != null && unit.getError().contains("additional properties");
  }

  private static Problem problem(Object body, OutputUnit unit) {
    String field = field(body, unit.getInstanceLocation());
    String error = unit.getError() == null ? "does not match the schema" : unit.getError();
    if (isUnknownField(unit)) {
      // The location is the unknown key's own, or (in some versions) the object holding it.
      String key = quoted(error);
      String named = key == null || field.equals(key) || field.endsWith("." + key) ? field
          : field.isEmpty() ? key : field + "." + key;
      return new Problem(named, "is not a known field; see the schema in /openapi.yaml");
    }
    if ("required".equals(lastSegment(unit.getKeywordLocation()))) {
      String key = quoted(error);
      if (key != null) {
        return new Problem(field.isEmpty() ? key : field + "." + key, "is required");
      }
    }
    return new Problem(field.isEmpty() ? "body" : field, readable(error));
  }

  /** vertx-json-schema's wording, said of the field. */
  private static String readable(String error) {
    java.util.regex.Matcher type = java.util.regex.Pattern
        .compile("Instance type (\\w+) is invalid\\. Expected (\\w+)").matcher(error);
    if (type.matches()) {
      return "must be " + ("array".equals(type.group(2)) || "object".equals(type.group(2)) ? "an " : "a ")
          + type.group(2) + " (got " + type.group(1) + ")";
    }
    if (error.startsWith("Instance does not match exactly one subschema")
        || error.startsWith("Instance does not match any subschemas")) {
      return "is not one of the value types the schema allows";
    }
    return error.startsWith("Instance ") ? error.substring("Instance ".length()) : error;
  }

  private static String quoted(String message) {
    int a = message.indexOf('"');
    int b = a < 0 ? -1 : message.indexOf('"', a + 1);
    if (a < 0 || b < 0) {
      a = message.indexOf('\'');
      b = a < 0 ? -1 : message.indexOf('\'', a + 1);
    }
    return a < 0 || b < 0 ? null : message.substring(a + 1, b);
  }

  private static String lastSegment(String pointer) {
    if (pointer == null) {
      return "";
    }
    int slash = pointer.lastIndexOf('/');
    return slash < 0 ? pointer : pointer.substring(slash + 1);
  }

  /** A JSON pointer ({@code /config/sahi/slice_width}, {@code /file_ids/2}) in the service's field notation. */
  static String field(Object body, String pointer) {
    if (pointer == null) {
      return "";
    }
    String p = pointer.startsWith("#") ? pointer.substring(1) : pointer;
    StringBuilder out = new StringBuilder();
    Object current = body;
    for (String raw : p.split("/")) {
      if (raw.isEmpty()) {
        continue;
      }
      String seg = raw.replace("~1", "/").replace("~0", "~");
      if (current instanceof JsonArray array) {
        out.append('[').append(seg).append(']');
        int i;
        try {
          i = Integer.parseInt(seg);
        } catch (NumberFormatException e) {
          i = -1;
        }
        current = i >= 0 && i < array.size() ? array.getValue(i) : null;
      } else {
        out.append(out.length() == 0 ? "" : ".").append(seg);
        current = current instanceof JsonObject o ? o.getValue(seg) : null;
      }
    }
    return out.toString();
  }
}
