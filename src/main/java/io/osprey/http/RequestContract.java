package io.osprey.http;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.Location;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.contract.Parameter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The request side of {@code openapi.yaml}, enforced: a JSON body is checked against the schema its operation
 * documents, and query and path parameters against theirs, with vertx-openapi's contract and vertx-json-schema's
 * validator, so the document and the service cannot disagree about which fields exist, their types, ranges, enums
 * and formats. Every problem comes back as a {@link Problem} naming the field the way the service always has
 * ({@code config.sahi.slice_width}, {@code file_ids[2]}, {@code pageSize}); the route turns them into its own code
 * (INVALID_CONFIG for predict, INVALID_REQUEST for the annotation routes, a not-found code for a malformed path id).
 * Checks the schema cannot express (one field that needs another, a name that must exist on disk or in the class
 * catalog) stay with the route.
 *
 * <p>Names that match case-insensitively: the annotation routes bind as ASP.NET Core did for the original service's
 * clients ({@code flightId}, {@code FlightId} and {@code flightid} are one field, {@code validated} is status
 * Validated). The document says so with the extension {@value #CASE_INSENSITIVE}: on a schema, its property names
 * and string enum values (and those of every schema below it) match in any case, surrounding blanks aside; on an
 * operation, its query parameter names do. Before validating, {@link #checkBody} and {@link #checkQuery} rewrite
 * such names and values to the documented spelling, so the schema stays an ordinary, exact JSON schema.
 *
 * <p>The body is validated as the route already parsed it ({@link JsonBodies} raises Jackson's string limit for
 * base64 images), rather than through {@code RequestValidator}, which would parse it a second time with the default
 * limits.
 *
 * <p>One instance serves every HTTP verticle of a process ({@link HttpVerticle#deploy} loads it once). That is safe:
 * after construction nothing here is written, and vertx-json-schema's validators keep only final fields (the schema,
 * a copy of the repository's lookup table, the options), passing each validation's state as arguments, so one
 * validator may validate on several event loops at once. The instance is published to the verticles through the
 * deployment (a happens-before edge) and held in final fields.
 */
public final class RequestContract implements Handler<RoutingContext> {
  private static final String KEY = RequestContract.class.getName();
  /** The extension that makes names (and string enum values) match case-insensitively; see the class comment. */
  public static final String CASE_INSENSITIVE = "x-osprey-case-insensitive";
  /** Keywords whose failure only says that something below them failed; the failure below is the one to show. */
  private static final Set<String> AGGREGATES = Set.of("$ref", "allOf", "anyOf", "properties", "items",
      "additionalProperties", "patternProperties");

  /** One field that breaks the contract: its path ({@code config.confidence}, {@code file_ids[1]}) and why. */
  public record Problem(String field, String message) {
  }

  /** A body as the schema spells its names and values, and what is wrong with it (empty when nothing). */
  public record CheckedBody(Object body, List<Problem> problems) {
    public boolean ok() {
      return problems.isEmpty();
    }
  }

  /**
   * Query parameters read against an operation's: each given one under its documented name, as its documented type
   * ({@code Long} for an integer, {@code Double}, {@code Boolean}, {@code String}, a {@code List} for a
   * comma-separated array), and what is wrong with them. A parameter left out or blank is absent.
   */
  public record CheckedQuery(Map<String, Object> values, List<Problem> problems) {
    public boolean ok() {
      return problems.isEmpty();
    }

    public Long integer(String name) {
      return (Long) values.get(name);
    }

    public String string(String name) {
      return (String) values.get(name);
    }

    public Boolean bool(String name) {
      return (Boolean) values.get(name);
    }

    @SuppressWarnings("unchecked")
    public List<Object> list(String name) {
      return (List<Object>) values.get(name);
    }
  }

  /** A documented query or path parameter, ready to check. */
  private record Param(String name, Location in, String type, JsonObject schema, Validator validator) {
  }

  private record Op(Validator body, JsonObject bodySchema, boolean caseInsensitiveQuery, List<Param> params) {
  }

  private final Map<String, Op> operations;
  /** The document as loaded, for resolving the schemas' {@code $ref}s while canonicalising names. */
  private final JsonObject document;

  /** Where the body validators' copy of the document is registered (see {@link #bodyValidators}). */
  private static final String BODIES_URI = "app:///osprey-openapi-bodies.json";

  private RequestContract(OpenAPIContract contract, JsonObject document, JsonObject raw) {
    this.document = document;
    io.vertx.json.schema.SchemaRepository bodies = bodyValidators(raw);
    Map<String, Op> ops = new HashMap<>();
    for (Operation op : contract.operations()) {
      MediaType json = op.getRequestBody() == null ? null
          : op.getRequestBody().getContent().get(MediaType.APPLICATION_JSON);
      Validator body = null;
      JsonObject bodySchema = null;
      if (json != null && json.getSchema() != null) {
        body = bodies.validator(io.vertx.json.schema.JsonSchema.of(new JsonObject().put("$ref", BODIES_URI + "#/paths/"
            + op.getOpenAPIPath().replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D") + "/"
            + op.getHttpMethod().name().toLowerCase(java.util.Locale.ROOT)
            + "/requestBody/content/application~1json/schema")));
        bodySchema = rawBodySchema(op);
      }
      List<Param> params = new ArrayList<>();
      for (Parameter p : op.getParameters()) {
        if (p.getIn() != Location.QUERY && p.getIn() != Location.PATH) {
          continue; // headers (Last-Event-ID, X-Request-ID, If-None-Match) are read by their handlers
        }
        JsonObject schema = resolve(p.getOpenAPIModel().getJsonObject("schema"));
        params.add(new Param(p.getName(), p.getIn(), schema == null ? "string" : schema.getString("type", "string"),
            schema, contract.getSchemaRepository().validator(p.getSchema())));
      }
      ops.put(op.getOperationId(), new Op(body, bodySchema,
          Boolean.TRUE.equals(op.getExtensions().get(CASE_INSENSITIVE)), List.copyOf(params)));
    }
    this.operations = Map.copyOf(ops);
  }

  /** The operation's JSON request body schema as written in the document (its {@code $ref} resolved). */
  private JsonObject rawBodySchema(Operation op) {
    JsonObject path = document.getJsonObject("paths").getJsonObject(op.getOpenAPIPath());
    JsonObject operation = path == null ? null
        : path.getJsonObject(op.getHttpMethod().name().toLowerCase(java.util.Locale.ROOT));
    JsonObject content = operation == null || operation.getJsonObject("requestBody") == null ? null
        : operation.getJsonObject("requestBody").getJsonObject("content");
    JsonObject json = content == null ? null : content.getJsonObject(MediaType.APPLICATION_JSON);
    return json == null ? null : resolve(json.getJsonObject("schema"));
  }

  /** Follows a local {@code $ref} ({@code #/components/schemas/X}) to its schema. */
  private JsonObject resolve(JsonObject schema) {
    JsonObject s = schema;
    for (int hops = 0; s != null && s.getValue("$ref") instanceof String ref && hops < 16; hops++) {
      if (!ref.startsWith("#/")) {
        return s;
      }
      Object at = document;
      for (String seg : ref.substring(2).split("/")) {
        at = at instanceof JsonObject o ? o.getValue(seg.replace("~1", "/").replace("~0", "~")) : null;
      }
      s = at instanceof JsonObject o ? o : null;
    }
    return s;
  }

  /**
   * Reads and resolves {@code openapi.yaml} from the class path (off the event loop). vertx-openapi refuses a
   * document that names media types it cannot validate (event streams, images, zip, CSV, YAML), so those entries
   * are left out of the copy it loads; the served document keeps them. vertx-json-schema does not read OpenAPI
   * 3.0's {@code nullable}, so in that copy a nullable schema becomes "that schema, or null".
   */
  public static Future<RequestContract> load(Vertx vertx) {
    return vertx.executeBlocking(RequestContract::readDocument, false).compose(raw -> {
      JsonObject doc = (JsonObject) nullable(raw);
      return OpenAPIContract.from(vertx, doc.copy()).map(contract -> new RequestContract(contract, doc, raw));
    });
  }

  /**
   * The request bodies' validators, from a copy of the document of their own. The contract's copy must pass the
   * OpenAPI 3.0 meta-schema, which allows no type lists, so there a nullable schema is "it, or null" (an anyOf);
   * validating the failing "or null" branch of every nullable field made a detection cost three times as much. The
   * bodies' copy says {@code type: [t, "null"]} (JSON Schema draft 4, as OpenAPI 3.0) wherever a nullable schema
   * names its type, and is registered in a repository of its own, outside the meta-schema check.
   */
  private static io.vertx.json.schema.SchemaRepository bodyValidators(JsonObject raw) {
    io.vertx.json.schema.SchemaRepository repo = io.vertx.json.schema.SchemaRepository.create(
        new io.vertx.json.schema.JsonSchemaOptions().setDraft(io.vertx.json.schema.Draft.DRAFT4)
            .setBaseUri("app:///").setOutputFormat(io.vertx.json.schema.OutputFormat.Basic));
    repo.dereference(BODIES_URI, io.vertx.json.schema.JsonSchema.of((JsonObject) typedNullable(raw)));
    return repo;
  }

  /** {@code {nullable: true, type: t}} becomes {@code {type: [t, "null"]}}; any other nullable schema an anyOf. */
  private static Object typedNullable(Object node) {
    if (node instanceof JsonArray a) {
      JsonArray out = new JsonArray();
      a.forEach(v -> out.add(typedNullable(v)));
      return out;
    }
    if (!(node instanceof JsonObject o)) {
      return node;
    }
    JsonObject out = new JsonObject();
    o.forEach(e -> out.put(e.getKey(), typedNullable(e.getValue())));
    if (Boolean.TRUE.equals(out.getValue("nullable")) && out.getValue("$ref") == null
        && out.getValue("type") instanceof String type) {
      out.remove("nullable");
      out.put("type", new JsonArray().add(type).add("null"));
      if (out.getValue("enum") instanceof JsonArray e && !e.contains(null)) {
        e.addNull();
      }
      return out;
    }
    return nullable(out);
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
      return doc;
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

  /**
   * 400 INVALID_REQUEST for these problems, in the one error shape: the first three in the message, every one in
   * {@code errors} as {@code {field, message}}.
   */
  public static ApiError invalid(List<Problem> problems) {
    JsonArray list = new JsonArray();
    List<String> shown = new ArrayList<>();
    for (Problem p : problems) {
      list.add(new JsonObject().put("field", p.field()).put("message", p.message()));
      if (shown.size() < 3) {
        shown.add(p.field() + ": " + p.message());
      }
    }
    return ApiError.of(io.osprey.errors.ErrorCode.INVALID_REQUEST, "Invalid request: " + String.join("; ", shown)
        + (problems.size() > 3 ? "; …" : "")).withErrors(list);
  }

  /** The contract of the router serving this request. */
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
    return checkBody(operationId, body).problems();
  }

  /**
   * {@code body} with its names (and string enum values) spelled as the schema spells them where the schema says
   * they match case-insensitively, and every way it breaks the schema of operation {@code operationId}'s JSON
   * request body. Fields the schema does not name are kept as they are (and allowed unless the schema forbids
   * them).
   */
  public CheckedBody checkBody(String operationId, Object body) {
    Op op = operations.get(operationId);
    if (op == null || op.body() == null) {
      throw new IllegalArgumentException("openapi.yaml has no JSON request body for operation " + operationId);
    }
    Limits limits = new Limits();
    Object canonical = canonical(body, op.bodySchema(), false, "", limits);
    if (limits.decisive()) {
      // An array past its maxItems or a flood of unknown fields is refused on what the walk found, without
      // validating the content: vertx-json-schema would spend seconds on 100,000 detections or 50,000 keys.
      return new CheckedBody(canonical, List.copyOf(limits.problems));
    }
    return new CheckedBody(canonical, problems(op.body(), canonical, ""));
  }

  /**
   * The query parameters of operation {@code operationId}, read and checked against the documented ones. Names
   * match exactly, or in any case where the operation says so; a blank value is absent; a parameter the operation
   * does not document is ignored.
   */
  public CheckedQuery checkQuery(String operationId, MultiMap query) {
    Op op = op(operationId);
    Map<String, Object> values = new LinkedHashMap<>();
    List<Problem> problems = new ArrayList<>();
    for (Param p : op.params()) {
      if (p.in() != Location.QUERY) {
        continue;
      }
      String raw = null;
      for (Map.Entry<String, String> e : query) {
        if (op.caseInsensitiveQuery() ? e.getKey().equalsIgnoreCase(p.name()) : e.getKey().equals(p.name())) {
          raw = e.getValue();
          break;
        }
      }
      if (raw == null || raw.isBlank()) {
        continue;
      }
      Object value = parameterValue(p, raw.strip(), problems);
      if (value != null) {
        List<Problem> found = problems(p.validator(), value, p.name());
        if (found.isEmpty()) {
          values.put(p.name(), value instanceof JsonArray a ? List.copyOf(a.getList()) : value);
        }
        problems.addAll(found);
      }
    }
    return new CheckedQuery(java.util.Collections.unmodifiableMap(values), problems);
  }

  /** Every way the path parameters ({@code values} gives each by name) break those of operation {@code operationId}. */
  public List<Problem> checkPath(String operationId, java.util.function.Function<String, String> values) {
    List<Problem> problems = new ArrayList<>();
    for (Param p : op(operationId).params()) {
      if (p.in() == Location.PATH) {
        String raw = values.apply(p.name());
        Object value = raw == null ? null : parameterValue(p, raw, problems);
        if (raw == null) {
          problems.add(new Problem(p.name(), "is required"));
        } else if (value != null) {
          problems.addAll(problems(p.validator(), value, p.name()));
        }
      }
    }
    return problems;
  }

  private Op op(String operationId) {
    Op op = operations.get(operationId);
    if (op == null) {
      throw new IllegalArgumentException("openapi.yaml has no operation " + operationId);
    }
    return op;
  }

  /** A parameter's text as its documented type (a comma-separated list for an array); null after a problem. */
  private Object parameterValue(Param p, String raw, List<Problem> problems) {
    if ("array".equals(p.type())) {
      JsonObject items = resolve(p.schema() == null ? null : p.schema().getJsonObject("items"));
      String itemType = items == null ? "string" : items.getString("type", "string");
      JsonArray out = new JsonArray();
      String[] parts = raw.split(",", -1);
      for (int i = 0; i < parts.length; i++) {
        Object v = scalar(itemType, parts[i].strip(), p.name() + "[" + i + "]", problems);
        if (v == null) {
          return null;
        }
        out.add(canonical(v, items, false, "", new Limits()));
      }
      return out;
    }
    Object v = scalar(p.type(), raw, p.name(), problems);
    return v == null ? null : canonical(v, p.schema(), false, "", new Limits());
  }

  private static Object scalar(String type, String raw, String field, List<Problem> problems) {
    switch (type) {
      case "integer" -> {
        try {
          return Long.parseLong(raw);
        } catch (NumberFormatException e) {
          problems.add(new Problem(field, "must be a whole number (got '" + shorten(raw) + "')"));
          return null;
        }
      }
      case "number" -> {
        try {
          double d = Double.parseDouble(raw);
          if (Double.isFinite(d)) {
            return d;
          }
        } catch (NumberFormatException e) {
          // answered below
        }
        problems.add(new Problem(field, "must be a number (got '" + shorten(raw) + "')"));
        return null;
      }
      case "boolean" -> {
        if (raw.equalsIgnoreCase("true") || raw.equalsIgnoreCase("false")) {
          return Boolean.parseBoolean(raw);
        }
        problems.add(new Problem(field, "must be true or false (got '" + shorten(raw) + "')"));
        return null;
      }
      default -> {
        return raw;
      }
    }
  }

  private static String shorten(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "…";
  }

  /**
   * {@code value} with the names and string enum values of case-insensitive schemas spelled as documented; the
   * rest as it is. Objects and arrays are copied, never changed in place.
   */
  private Object canonical(Object value, JsonObject rawSchema, boolean caseInsensitive, String at, Limits limits) {
    JsonObject schema = resolve(rawSchema);
    if (schema == null) {
      return value;
    }
    boolean ci = caseInsensitive || Boolean.TRUE.equals(schema.getValue(CASE_INSENSITIVE));
    if (value instanceof JsonArray a && keyword(schema, "maxItems", 0) instanceof Number max
        && a.size() > max.longValue()) {
      limits.tooLarge(new Problem(at.isEmpty() ? "body" : at, "holds " + a.size() + " items; at most " + max));
      return value;
    }
    if (value instanceof JsonObject o && keyword(schema, "maxProperties", 0) instanceof Number max
        && o.size() > max.longValue()) {
      limits.tooLarge(new Problem(at.isEmpty() ? "body" : at, "has " + o.size() + " fields; at most " + max));
      return value;
    }
    if (value instanceof JsonObject o) {
      Map<String, JsonObject> props = new LinkedHashMap<>();
      properties(schema, props, 0);
      Map<String, String> byLower = new HashMap<>();
      if (ci) {
        props.keySet().forEach(k -> byLower.put(k.toLowerCase(java.util.Locale.ROOT), k));
      }
      JsonObject additional = member(schema, "additionalProperties", 0);
      boolean closed = Boolean.FALSE.equals(keyword(schema, "additionalProperties", 0));
      JsonObject out = new JsonObject();
      for (Map.Entry<String, Object> e : o) {
        String name = ci ? byLower.getOrDefault(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getKey())
            : e.getKey();
        String field = at.isEmpty() ? name : at + "." + name;
        if (closed && !props.containsKey(name)) {
          limits.unknown(new Problem(field, "is not a known field; see the schema in /openapi.yaml"));
        }
        JsonObject sub = props.containsKey(name) ? props.get(name) : additional;
        out.put(name, canonical(e.getValue(), sub, ci, field, limits));
      }
      return out;
    }
    if (value instanceof JsonArray a) {
      JsonObject items = member(schema, "items", 0);
      JsonArray out = new JsonArray(new ArrayList<>(a.size()));
      for (int i = 0; i < a.size(); i++) {
        out.add(canonical(a.getValue(i), items, ci, at + "[" + i + "]", limits));
      }
      return out;
    }
    if (ci && value instanceof String s) {
      String t = s.strip();
      for (Object e : enumValues(schema)) {
        if (e instanceof String known && known.equalsIgnoreCase(t)) {
          return known;
        }
      }
    }
    return value;
  }

  /**
   * The subschema {@code key} ({@code items}, {@code additionalProperties}) of a schema or of one of its
   * allOf/anyOf/oneOf members (a nullable schema is loaded as "it, or null").
   */
  private JsonObject member(JsonObject schema, String key, int depth) {
    JsonObject s = resolve(schema);
    if (s == null || depth > 8) {
      return null;
    }
    if (s.getValue(key) instanceof JsonObject found) {
      return found;
    }
    for (String k : List.of("allOf", "anyOf", "oneOf")) {
      if (s.getValue(k) instanceof JsonArray members) {
        for (Object m : members) {
          JsonObject found = member(m instanceof JsonObject o ? o : null, key, depth + 1);
          if (found != null) {
            return found;
          }
        }
      }
    }
    return null;
  }

  /**
   * What the canonicalising walk finds cheaply: arrays past maxItems, objects past maxProperties, and fields a
   * closed schema ({@code additionalProperties: false}) does not name. Either of the first, or more unknown fields
   * than an answer lists, decides the answer without the (slow) full validation.
   */
  private static final class Limits {
    private final List<Problem> problems = new ArrayList<>();
    private boolean tooLarge;

    void tooLarge(Problem p) {
      tooLarge = true;
      problems.add(p);
    }

    void unknown(Problem p) {
      problems.add(p);
    }

    /** An answer lists at most {@link ApiError#MAX_LISTED_ERRORS}; past that, the rest only add to the count. */
    boolean decisive() {
      return tooLarge || problems.size() >= ApiError.MAX_LISTED_ERRORS;
    }
  }

  /** A keyword's value in a schema or one of its allOf/anyOf/oneOf members (null when none says it). */
  private Object keyword(JsonObject schema, String key, int depth) {
    JsonObject s = resolve(schema);
    if (s == null || depth > 8) {
      return null;
    }
    if (s.containsKey(key)) {
      return s.getValue(key);
    }
    for (String k : List.of("allOf", "anyOf", "oneOf")) {
      if (s.getValue(k) instanceof JsonArray members) {
        for (Object m : members) {
          Object found = keyword(m instanceof JsonObject o ? o : null, key, depth + 1);
          if (found != null) {
            return found;
          }
        }
      }
    }
    return null;
  }

  /** The properties a schema names, its allOf/anyOf/oneOf members' included. */
  private void properties(JsonObject schema, Map<String, JsonObject> into, int depth) {
    JsonObject s = resolve(schema);
    if (s == null || depth > 8) {
      return;
    }
    if (s.getValue("properties") instanceof JsonObject p) {
      p.forEach(e -> into.putIfAbsent(e.getKey(), e.getValue() instanceof JsonObject o ? o : null));
    }
    for (String k : List.of("allOf", "anyOf", "oneOf")) {
      if (s.getValue(k) instanceof JsonArray members) {
        members.forEach(m -> properties(m instanceof JsonObject o ? o : null, into, depth + 1));
      }
    }
  }

  private List<Object> enumValues(JsonObject schema) {
    List<Object> out = new ArrayList<>();
    if (schema.getValue("enum") instanceof JsonArray e) {
      out.addAll(e.getList());
    }
    for (String k : List.of("allOf", "anyOf", "oneOf")) {
      if (schema.getValue(k) instanceof JsonArray members) {
        members.forEach(m -> {
          JsonObject r = resolve(m instanceof JsonObject o ? o : null);
          if (r != null && r.getValue("enum") instanceof JsonArray e) {
            out.addAll(e.getList());
          }
        });
      }
    }
    return out;
  }

  /** Every way {@code body} breaks {@code validator}'s schema, each named below {@code prefix}. */
  private static List<Problem> problems(Validator validator, Object body, String prefix) {
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
    if (prefix.isEmpty()) {
      return new ArrayList<>(byField.values());
    }
    // A parameter's problems: its own name, or the element of a list ("status[1]").
    List<Problem> out = new ArrayList<>();
    for (Problem p : byField.values()) {
      String f = p.field();
      out.add(new Problem(f.equals("body") ? prefix : f.startsWith("[") ? prefix + f : prefix + "." + f,
          p.message()));
    }
    return out;
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
        .compile("Instance type (\\w+) is invalid\\. Expected (.+)").matcher(error);
    if (type.matches()) {
      // One type, or a list of them (["number","null"] for a nullable field: null is implied by "or absent").
      String expected = type.group(2).replaceAll("[\\[\\]\"]", "").split(",")[0].strip();
      return "must be " + ("array".equals(expected) || "object".equals(expected) ? "an " : "a ")
          + expected + " (got " + type.group(1) + ")";
    }
    java.util.regex.Matcher oneOf = java.util.regex.Pattern.compile("Instance does not match any of (\\[.*])")
        .matcher(error);
    if (oneOf.matches()) {
      // The enum as the document lists it: ["Created","Edited",10,20] reads Created, Edited, 10, 20.
      return "must be one of " + oneOf.group(1).substring(1, oneOf.group(1).length() - 1).replace("\"", "")
          .replace(",", ", ");
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
