package io.osprey.annotations;

import io.osprey.annotations.AnnotationRepository.Annotation;
import io.osprey.annotations.AnnotationService.NewAnnotation;
import io.osprey.auth.AuthHandler;
import io.osprey.auth.Permission;
import io.osprey.auth.TokenVerifier;
import io.osprey.http.ApiError;
import io.osprey.http.ApiException;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.osprey.http.JsonBodies;
import io.osprey.http.MultipartBody;
import io.osprey.http.RequestContract;
import io.osprey.http.Text;
import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.FileUpload;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes of F1, F2 and F8: create, list, read, edit and delete annotations; dataset status changes. Bodies, query
 * and path parameters are first checked against openapi.yaml ({@link RequestContract}: types, required fields,
 * ranges, enums, names in any case); what a schema cannot say (an image or a media id, a label from the class
 * catalog, base64 that decodes) is checked here.
 */
public final class AnnotationsApi {
  private static final Logger LOG = LoggerFactory.getLogger(AnnotationsApi.class);
  static final int MAX_PAGE_SIZE = 500;
  static final int MAX_BULK = 10_000;
  /** Body limit of PUT /annotations/{id} (JSON). */
  public static final long EDIT_BODY_LIMIT = 8L << 20;
  /** Bodies up to this size are parsed and checked on the event loop; larger ones on a worker. */
  static final int INLINE_CHECK_BYTES = 16 * 1024;
  /** Body limit of the dataset status routes (JSON). */
  public static final long STATUS_BODY_LIMIT = 1L << 20;
  /** What a JSON body may add around a base64 image: the other fields, detections included. */
  static final long JSON_SLACK = EDIT_BODY_LIMIT;

  private final AnnotationService service;
  private final ClassCatalog classes;
  private final TokenVerifier verifier;
  private final Path receiveDir;
  private final long maxImageBytes;

  public AnnotationsApi(AnnotationService service, ClassCatalog classes, TokenVerifier verifier, Path receiveDir,
                        long maxImageBytes) {
    this.service = service;
    this.classes = classes;
    this.verifier = verifier;
    this.receiveDir = receiveDir;
    this.maxImageBytes = maxImageBytes;
  }

  public void mount(Router router) {
    AuthHandler ann = new AuthHandler(verifier, Permission.ANN, false);
    AuthHandler read = AuthHandler.anyOf(verifier, Permission.ANN, Permission.DATASET);
    AuthHandler dataset = new AuthHandler(verifier, Permission.DATASET, false);
    // A JSON create carries the image as base64 (a third larger) and is read into memory up to that; a multipart
    // create is streamed by MultipartBody in the handler, its image to disk. Other bodies are small: an edit with
    // 10,000 detections is about 1.5 MB, a bulk status change of 10,000 ids about 0.4 MB.
    BodyHandler json = BodyHandler.create(false).setBodyLimit(base64BodyLimit(maxImageBytes));
    BodyHandler small = BodyHandler.create(false).setBodyLimit(EDIT_BODY_LIMIT);
    BodyHandler tiny = BodyHandler.create(false).setBodyLimit(STATUS_BODY_LIMIT);

    // The guard sits on a route of its own: Vert.x Web refuses a body handler after a user handler on one route,
    // and the token must be checked before a large body is received.
    ann.guard(router.post("/annotations"));
    router.post("/annotations").handler(ctx -> {
      if (MultipartBody.isMultipart(ctx)) {
        ctx.next();
      } else {
        json.handle(ctx);
      }
    }).handler(this::create);
    read.guard(router.get("/annotations")).handler(this::list);
    read.guard(router.get("/annotations/:id")).handler(this::get);
    read.guard(router.get("/annotations/:id/image")).handler(ctx -> file(ctx, true));
    read.guard(router.get("/annotations/:id/thumbnail")).handler(ctx -> file(ctx, false));
    ann.guard(router.put("/annotations/:id"));
    router.put("/annotations/:id").handler(small).handler(this::update);
    ann.guard(router.delete("/annotations/:id")).handler(this::delete);
    dataset.guard(router.patch("/dataset/:id/status"));
    router.patch("/dataset/:id/status").handler(tiny).handler(this::status);
    dataset.guard(router.post("/dataset/bulk-status"));
    router.post("/dataset/bulk-status").handler(tiny).handler(this::bulkStatus);
  }

  // ------------------------------------------------------------------ create

  /** Base64 characters of {@code bytes} bytes. */
  static long base64Chars(long bytes) {
    return (bytes + 2) / 3 * 4;
  }

  /** Body limit of a JSON request carrying a base64 file of at most {@code maxBytes}. */
  static long base64BodyLimit(long maxBytes) {
    return base64Chars(maxBytes) + JSON_SLACK;
  }

  private void create(RoutingContext ctx) {
    if (MultipartBody.isMultipart(ctx)) {
      // Up to 4 parts: the image, the annotation JSON (as a field or a file part) and room for a stray one.
      MultipartBody.receive(ctx, receiveDir, new MultipartBody.Limits(4, maxImageBytes, maxImageBytes + JSON_SLACK,
              io.osprey.uploads.FileNames.MAX_CLIENT_LENGTH))
          .onFailure(e -> fail(ctx, e))
          .onSuccess(body -> create(ctx, body).eventually(body::discard)
              .onSuccess(a -> created(ctx, a))
              .onFailure(e -> fail(ctx, e)));
      return;
    }
    create(ctx, null).onSuccess(a -> created(ctx, a)).onFailure(e -> fail(ctx, e));
  }

  private static void created(RoutingContext ctx, Annotation a) {
    ctx.response().putHeader("Location", "/annotations/" + a.id());
    Responses.json(ctx, 201, a.toJson());
  }

  private Future<Annotation> create(RoutingContext ctx, MultipartBody.Result body) {
    boolean multipart = body != null;
    // A multipart 'annotation' part is the same CreateAnnotationRequest as a JSON body, and so are the fields sent
    // one by one; each is checked against it on the worker that parsed it.
    RequestContract contract = RequestContract.of(ctx);
    Future<JsonObject> fields = multipart ? multipartFields(contract, body) : jsonBody(contract, ctx);
    return fields.compose(checked -> classes.get().compose(catalog -> {
      JsonObject f = Wire.ci(checked);
      List<String> errors = new ArrayList<>();
      String mediaId = Wire.string(f, "mediaId", errors);
      String name = Wire.string(f, "name", errors);
      String flightId = Wire.string(f, "flightId", errors);
      String waypointId = Wire.string(f, "waypointId", errors);
      String source = source(f.getValue("source"), errors);
      List<Detection> detections = Detection.parse(f.getValue("detections"), cls -> label(catalog, cls), errors);
      Object image = f.getValue("image");
      if (image != null && !(image instanceof String)) {
        errors.add("image: must be a base64 string");
      }
      MultipartBody.FilePart upload = multipart ? body.file("image") : null;
      if (!errors.isEmpty()) {
        return Future.failedFuture(invalid(errors));
      }
      if (upload != null && upload.tooLarge()) {
        return Future.failedFuture(new ApiException(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "image: "
            + upload.size() + " bytes exceed the limit of " + maxImageBytes + " (annotations.max_image_bytes)")));
      }
      Future<byte[]> bytes = image instanceof String b64 && !b64.isBlank() && upload == null
          ? service.blocking(() -> decode(b64)) : Future.succeededFuture(null);
      String shownName = name != null || upload == null || upload.fileName() == null || upload.fileName().isBlank()
          ? name : MediaApi.safeName(upload.fileName());
      return bytes.compose(b -> service.create(new NewAnnotation(b, upload == null ? null : upload.path(), mediaId,
          shownName, flightId, waypointId, source, detections, CurrentUser.of(ctx), null, false)));
    }));
  }

  private byte[] decode(String b64) {
    String data = b64.startsWith("data:") && b64.contains(",") ? b64.substring(b64.indexOf(',') + 1) : b64;
    byte[] bytes;
    try {
      bytes = CreateRequests.base64(data);
    } catch (IllegalArgumentException e) {
      throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "image: not valid base64"));
    }
    if (bytes.length == 0) {
      throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "image: empty"));
    }
    if (bytes.length > maxImageBytes) {
      throw new ApiException(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "image: " + bytes.length
          + " bytes exceed the limit of " + maxImageBytes + " (annotations.max_image_bytes)"));
    }
    return bytes;
  }

  private Future<JsonObject> jsonBody(RequestContract contract, RoutingContext ctx) {
    if (ctx.body().length() == 0) {
      return Future.failedFuture(new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST,
          "Send a CreateAnnotationRequest as JSON, or a multipart form with 'image' and 'annotation' parts")));
    }
    // Parsed on a worker: a body with a 50 MB image is about 67 MB of JSON.
    return service.blocking(() -> CreateRequests.checked(contract, JsonBodies.object(ctx.body().buffer(),
        ctx.body().length())));
  }

  /** The 'annotation' JSON part (a field or a file part), or the fields given one by one. */
  private Future<JsonObject> multipartFields(RequestContract contract, MultipartBody.Result body) {
    String json = body.fields().get("annotation");
    MultipartBody.FilePart jsonPart = body.file("annotation");
    return service.blocking(() -> {
      io.vertx.core.buffer.Buffer text = json == null ? null : io.vertx.core.buffer.Buffer.buffer(json);
      if (text == null && jsonPart != null) {
        if (jsonPart.tooLarge()) {
          throw new ApiException(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "annotation: larger than "
              + maxImageBytes + " bytes"));
        }
        text = io.vertx.core.buffer.Buffer.buffer(Files.readAllBytes(jsonPart.path()));
      }
      if (text != null) {
        JsonObject part;
        try {
          part = JsonBodies.object(text, text.length());
        } catch (ApiException e) {
          throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "annotation: "
              + e.error().message()).withErrors(e.error().errors()));
        }
        return CreateRequests.checked(contract, part);
      }
      String problem = Text.firstProblem(body.fields());
      if (problem != null) {
        throw new ApiException(Text.invalid(problem));
      }
      JsonObject out = new JsonObject();
      for (Map.Entry<String, String> e : body.fields()) {
        if (e.getKey().equalsIgnoreCase("detections")) {
          try {
            out.put("detections", new JsonArray(e.getValue()));
          } catch (DecodeException | ClassCastException ex) {
            throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "detections: not a JSON array"));
          }
        } else {
          out.put(e.getKey(), e.getValue());
        }
      }
      return CreateRequests.checked(contract, out);
    });
  }

  private static String source(Object v, List<String> errors) {
    if (v == null) {
      return "Manual";
    }
    String s = String.valueOf(v).strip();
    if (s.equalsIgnoreCase("AI") || s.equals("0")) {
      return "AI";
    }
    if (s.equalsIgnoreCase("Manual") || s.equals("1")) {
      return "Manual";
    }
    errors.add("source: must be AI or Manual");
    return null;
  }

  static String label(Map<Integer, ClassCatalog.DetectionClass> catalog, int cls) {
    ClassCatalog.DetectionClass c = catalog.get(cls);
    return c == null ? null : c.name();
  }

  // ------------------------------------------------------------------ read

  private void list(RoutingContext ctx) {
    RequestContract.CheckedQuery p = RequestContract.of(ctx).checkQuery("listAnnotations", ctx.queryParams());
    List<String> errors = new ArrayList<>(fieldErrors(p.problems()));
    List<AnnotationStatus> statuses = new ArrayList<>();
    if (p.list("status") != null) {
      p.list("status").forEach(s -> statuses.add(AnnotationStatus.parse(s)));
    }
    Integer classNum = p.integer("classNum") == null ? null : p.integer("classNum").intValue();
    int page = p.integer("page") == null ? 1 : p.integer("page").intValue();
    int pageSize = p.integer("pageSize") == null ? 20 : p.integer("pageSize").intValue();
    // ISO-8601 as Java reads it is wider than any JSON schema format (seconds optional, bare dates): checked here.
    OffsetDateTime from = time(p.string("from"), "from", errors);
    OffsetDateTime to = time(p.string("to"), "to", errors);
    String source = p.string("source") == null ? null : source(p.string("source"), errors);
    if (!errors.isEmpty()) {
      fail(ctx, invalid(errors));
      return;
    }
    AnnotationRepository.Query q = new AnnotationRepository.Query(p.string("flightId"), p.string("waypointId"),
        p.string("mediaId"), statuses, classNum, from, to, p.string("createdBy"), source, page, pageSize);
    service.repository().list(q).onSuccess(result -> {
      JsonArray items = new JsonArray();
      result.items().forEach(a -> items.add(a.toJson()));
      long pages = (result.total() + pageSize - 1) / pageSize;
      Responses.json(ctx, 200, new JsonObject().put("items", items).put("page", page).put("pageSize", pageSize)
          .put("totalCount", result.total()).put("totalPages", pages));
    }).onFailure(e -> fail(ctx, e));
  }

  /** An ISO-8601 instant, local time (UTC) or date (its start, UTC); the listing and the export read them alike. */
  static OffsetDateTime time(String v, String name, List<String> errors) {
    if (v == null) {
      return null;
    }
    try {
      return OffsetDateTime.parse(v);
    } catch (DateTimeParseException e) {
      try {
        return java.time.LocalDateTime.parse(v).atOffset(java.time.ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        try {
          return java.time.LocalDate.parse(v).atStartOfDay().atOffset(java.time.ZoneOffset.UTC);
        } catch (DateTimeParseException e3) {
          errors.add(name + ": must be an ISO-8601 time such as 2026-05-14T10:00:00Z");
          return null;
        }
      }
    }
  }

  private void get(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    if (!validId(ctx, "getAnnotation")) {
      return;
    }
    find(id).onSuccess(a -> Responses.json(ctx, 200, a.toJson())).onFailure(e -> fail(ctx, e));
  }

  /** Answers 404 ANNOTATION_NOT_FOUND and says false when the path's id is not an annotation id. */
  private static boolean validId(RoutingContext ctx, String operationId) {
    if (RequestContract.of(ctx).checkPath(operationId, ctx::pathParam).isEmpty()) {
      return true;
    }
    fail(ctx, AnnotationService.notFound(ctx.pathParam("id")));
    return false;
  }

  /** The annotation of a well-formed id (see {@link #validId}). */
  private Future<Annotation> find(String id) {
    return service.repository().find(service.repository().pool(), id)
        .compose(a -> a == null || a.filesState().equals("purging") ? Future.failedFuture(AnnotationService.notFound(id))
            : Future.succeededFuture(a));
  }


  private void file(RoutingContext ctx, boolean image) {
    String id = ctx.pathParam("id");
    if (!validId(ctx, image ? "getAnnotationImage" : "getAnnotationThumbnail")) {
      return;
    }
    find(id).compose(a -> service.paths().get().map(dirs -> image ? dirs.image(a.id(), a.imageExtension())
        : dirs.thumbnail(a.id()))).compose(path -> ctx.vertx().fileSystem().exists(path.toString()).compose(ok -> ok
        ? Future.succeededFuture(path)
        : Future.failedFuture(new ApiException(ApiError.of(ErrorCode.FILE_NOT_FOUND, (image ? "Image" : "Thumbnail")
            + " file of annotation " + id + " not found"))))).onSuccess(path -> {
      String name = path.getFileName().toString();
      String type = name.endsWith(".png") ? "image/png" : name.endsWith(".tiff") ? "image/tiff" : "image/jpeg";
      ctx.response().putHeader("Content-Type", type).putHeader("Cache-Control", "private, max-age=60")
          .sendFile(path.toString());
    }).onFailure(e -> fail(ctx, e));
  }

  // ------------------------------------------------------------------ edit, delete, status

  private void update(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    checkedBody(ctx, "updateAnnotation", body -> update(ctx, id, body));
  }

  private void update(RoutingContext ctx, String id, JsonObject body) {
    if (!validId(ctx, "updateAnnotation")) {
      return;
    }
    classes.get().compose(catalog -> {
      JsonObject f = Wire.ci(body);
      List<String> errors = new ArrayList<>();
      List<Detection> detections = Detection.parse(f.getValue("detections"), cls -> label(catalog, cls), errors);
      String name = Wire.string(f, "name", errors);
      String flightId = Wire.string(f, "flightId", errors);
      String waypointId = Wire.string(f, "waypointId", errors);
      if (!errors.isEmpty()) {
        return Future.failedFuture(invalid(errors));
      }
      return service.update(id, name, flightId, waypointId, detections);
    }).onSuccess(a -> Responses.json(ctx, 200, a.toJson())).onFailure(e -> fail(ctx, e));
  }

  private void delete(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    RequestContract.CheckedQuery q = RequestContract.of(ctx).checkQuery("deleteAnnotation", ctx.queryParams());
    if (!q.ok()) {
      fail(ctx, invalidFields(q.problems()));
      return;
    }
    boolean purge = Boolean.TRUE.equals(q.bool("purge"));
    if (purge && !CurrentUser.isAdmin(ctx)) {
      Responses.error(ctx, ApiError.of(ErrorCode.FORBIDDEN, "Purging files needs the ADM permission"));
      return;
    }
    if (!validId(ctx, "deleteAnnotation")) {
      return;
    }
    service.delete(id, purge).onSuccess(x -> ctx.response().setStatusCode(204).end()).onFailure(e -> fail(ctx, e));
  }

  private void status(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    checkedBody(ctx, "setAnnotationStatus", body -> status(ctx, id, body));
  }

  private void status(RoutingContext ctx, String id, JsonObject body) {
    AnnotationStatus status = requiredStatus(ctx, Wire.ci(body));
    if (status == null || !validId(ctx, "setAnnotationStatus")) {
      return;
    }
    service.setStatus(List.of(id), status, false)
        .onSuccess(r -> Responses.json(ctx, 200, new JsonObject().put("id", id).put("status", status.wire())
            .put("changed", !r.changed().isEmpty())))
        .onFailure(e -> fail(ctx, e));
  }

  private void bulkStatus(RoutingContext ctx) {
    // The contract has checked that annotationIds is a list of 1 to 10000 (MAX_BULK) and that status is known.
    checkedBody(ctx, "bulkSetAnnotationStatus", body -> bulkStatus(ctx, body));
  }

  private void bulkStatus(RoutingContext ctx, JsonObject body) {
    JsonObject f = Wire.ci(body);
    JsonArray ids = f.getJsonArray("annotationids");
    AnnotationStatus status = requiredStatus(ctx, f);
    if (status == null) {
      return;
    }
    List<String> list = new ArrayList<>();
    List<String> malformed = new ArrayList<>();
    for (Object o : ids) {
      if (o instanceof String s && ContentId.looksValid(s.strip().toLowerCase(Locale.ROOT))) {
        list.add(s.strip().toLowerCase(Locale.ROOT));
      } else {
        malformed.add(String.valueOf(o));
      }
    }
    service.setStatus(list, status, true).onSuccess(r -> {
      List<String> notFound = new ArrayList<>(r.notFound());
      notFound.addAll(malformed);
      Responses.json(ctx, 200, new AnnotationService.StatusResult(r.changed(), notFound, status).toJson());
    }).onFailure(e -> fail(ctx, e));
  }

  private static AnnotationStatus requiredStatus(RoutingContext ctx, JsonObject ci) {
    AnnotationStatus status = AnnotationStatus.parse(ci.getValue("status"));
    if (status == null) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "status: required, one of "
          + AnnotationStatus.names()));
    }
    return status;
  }

  /**
   * The JSON object body, checked against the operation's schema and with its names spelled as documented; null
   * after answering 400 INVALID_REQUEST (one {@code errors} entry per bad field).
   */
  static void checkedBody(RoutingContext ctx, String operationId, java.util.function.Consumer<JsonObject> then) {
    RequestContract contract = RequestContract.of(ctx);
    java.util.concurrent.Callable<JsonObject> check = () -> {
      JsonObject body = JsonBodies.object(ctx.body().buffer(), ctx.body().length());
      RequestContract.CheckedBody checked = contract.checkBody(operationId, body);
      if (!checked.ok()) {
        throw invalidFields(checked.problems());
      }
      return (JsonObject) checked.body();
    };
    if (ctx.body().length() <= INLINE_CHECK_BYTES) {
      JsonObject body;
      try {
        body = check.call();
      } catch (Exception e) {
        fail(ctx, e);
        return;
      }
      then.accept(body);
      return;
    }
    // vertx-json-schema takes about 0.05 ms per detection on a busy 2-core machine (an edit of 10,000 is half a
    // second of CPU):
    // a large body is parsed and checked on a worker, never on the event loop.
    ctx.vertx().executeBlocking(check, false).onFailure(e -> fail(ctx, e)).onSuccess(then::accept);
  }

  static List<String> fieldErrors(List<RequestContract.Problem> problems) {
    return problems.stream().map(p -> p.field() + ": " + p.message()).toList();
  }

  static ApiException invalidFields(List<RequestContract.Problem> problems) {
    return invalid(fieldErrors(problems));
  }

  /** The JSON object body, or null after answering 400. */
  static JsonObject jsonObject(RoutingContext ctx) {
    try {
      return JsonBodies.object(ctx.body().buffer(), ctx.body().length());
    } catch (ApiException e) {
      Responses.error(ctx, e.error());
      return null;
    }
  }

  static ApiException invalid(List<String> errors) {
    JsonArray list = new JsonArray();
    for (String e : errors) {
      int colon = e.indexOf(':');
      list.add(new JsonObject().put("field", colon > 0 ? e.substring(0, colon) : null)
          .put("message", colon > 0 ? e.substring(colon + 1).strip() : e));
    }
    return new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "Invalid request: " + String.join("; ",
        errors.subList(0, Math.min(3, errors.size()))) + (errors.size() > 3 ? "; …" : "")).withErrors(list));
  }

  /**
   * Answers a service's failure (mapped by the HTTP layer) and an ApiException as themselves, and anything else as
   * a database error (with the cause logged).
   */
  static void fail(RoutingContext ctx, Throwable e) {
    if (e instanceof OspreyException domain) {
      if (domain.code() == ErrorCode.ANNOTATION_EXISTS && domain.details().get("id") != null) {
        ctx.response().putHeader("Location", "/annotations/" + domain.details().get("id"));
      }
      Responses.error(ctx, ApiError.of(domain));
      return;
    }
    if (e instanceof ApiException api) {
      Responses.error(ctx, api.error());
      return;
    }
    if (io.osprey.storage.DatabaseFailures.unavailable(e)) {
      LOG.warn("rid={} {} {}: database unavailable: {}", io.osprey.http.RequestIds.of(ctx), ctx.request().method(),
          ctx.request().path(), e.toString());
      Responses.error(ctx, io.osprey.http.DatabaseErrors.unavailable());
      return;
    }
    LOG.error("rid={} {} {} failed", io.osprey.http.RequestIds.of(ctx), ctx.request().method(),
        ctx.request().path(), e);
    Responses.error(ctx, ApiError.of(ErrorCode.DATABASE_ERROR, "Unable to save or read annotation data; quote"
        + " request id " + io.osprey.http.RequestIds.of(ctx) + " when reporting it"));
  }
}
