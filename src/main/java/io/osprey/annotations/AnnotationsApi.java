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
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Routes of F1, F2 and F8: create, list, read, edit and delete annotations; dataset status changes. */
public final class AnnotationsApi {
  private static final Logger LOG = LoggerFactory.getLogger(AnnotationsApi.class);
  static final int MAX_PAGE_SIZE = 500;
  static final int MAX_BULK = 10_000;
  /** Body limit of PUT /annotations/{id} (JSON). */
  public static final long EDIT_BODY_LIMIT = 8L << 20;
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
    Future<JsonObject> fields = multipart ? multipartFields(body) : jsonBody(ctx);
    return fields.compose(raw -> classes.get().compose(catalog -> {
      JsonObject f = Wire.ci(raw);
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
      bytes = Base64.getMimeDecoder().decode(data);
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

  private Future<JsonObject> jsonBody(RoutingContext ctx) {
    if (ctx.body().length() == 0) {
      return Future.failedFuture(new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST,
          "Send a CreateAnnotationRequest as JSON, or a multipart form with 'image' and 'annotation' parts")));
    }
    // Parsed on a worker: a body with a 50 MB image is about 67 MB of JSON.
    return service.blocking(() -> JsonBodies.object(ctx.body().buffer(), ctx.body().length()));
  }

  /** The 'annotation' JSON part (a field or a file part), or the fields given one by one. */
  private Future<JsonObject> multipartFields(MultipartBody.Result body) {
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
        try {
          return JsonBodies.object(text, text.length());
        } catch (ApiException e) {
          throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "annotation: "
              + e.error().message()).withErrors(e.error().errors()));
        }
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
      return out;
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
    List<String> errors = new ArrayList<>();
    var p = ctx.queryParams();
    List<AnnotationStatus> statuses = new ArrayList<>();
    String status = Wire.query(p, "status");
    if (status != null) {
      for (String s : status.split(",")) {
        AnnotationStatus st = AnnotationStatus.parse(s);
        if (st == null) {
          errors.add("status: '" + s.strip() + "' is not one of " + AnnotationStatus.names());
        } else {
          statuses.add(st);
        }
      }
    }
    Integer classNum = intParam(p, "classNum", 0, Integer.MAX_VALUE, null, errors);
    int page = intParam(p, "page", 1, Integer.MAX_VALUE / MAX_PAGE_SIZE, 1, errors);
    int pageSize = intParam(p, "pageSize", 1, MAX_PAGE_SIZE, 20, errors);
    OffsetDateTime from = time(p, "from", errors);
    OffsetDateTime to = time(p, "to", errors);
    String source = Wire.query(p, "source") == null ? null : source(Wire.query(p, "source"), errors);
    if (!errors.isEmpty()) {
      fail(ctx, invalid(errors));
      return;
    }
    AnnotationRepository.Query q = new AnnotationRepository.Query(Wire.query(p, "flightId"),
        Wire.query(p, "waypointId"), Wire.query(p, "mediaId"), statuses, classNum, from, to,
        Wire.query(p, "createdBy"), source, page, pageSize);
    service.repository().list(q).onSuccess(result -> {
      JsonArray items = new JsonArray();
      result.items().forEach(a -> items.add(a.toJson()));
      long pages = (result.total() + pageSize - 1) / pageSize;
      Responses.json(ctx, 200, new JsonObject().put("items", items).put("page", page).put("pageSize", pageSize)
          .put("totalCount", result.total()).put("totalPages", pages));
    }).onFailure(e -> fail(ctx, e));
  }

  private static Integer intParam(io.vertx.core.MultiMap p, String name, int min, int max, Integer dflt,
                                  List<String> errors) {
    String v = Wire.query(p, name);
    if (v == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    errors.add(name + ": must be a whole number from " + min + " to " + max);
    return dflt;
  }

  private static OffsetDateTime time(io.vertx.core.MultiMap p, String name, List<String> errors) {
    String v = Wire.query(p, name);
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
    find(id).onSuccess(a -> Responses.json(ctx, 200, a.toJson())).onFailure(e -> fail(ctx, e));
  }

  private Future<Annotation> find(String id) {
    if (!ContentId.looksValid(id)) {
      return Future.failedFuture(AnnotationService.notFound(id));
    }
    return service.repository().find(service.repository().pool(), id)
        .compose(a -> a == null || a.filesState().equals("purging") ? Future.failedFuture(AnnotationService.notFound(id))
            : Future.succeededFuture(a));
  }


  private void file(RoutingContext ctx, boolean image) {
    String id = ctx.pathParam("id");
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
    JsonObject body = jsonObject(ctx);
    if (body == null) {
      return;
    }
    if (!ContentId.looksValid(id)) {
      fail(ctx, AnnotationService.notFound(id));
      return;
    }
    classes.get().compose(catalog -> {
      JsonObject f = Wire.ci(body);
      List<String> errors = new ArrayList<>();
      if (!f.containsKey("detections")) {
        errors.add("detections: required (the new detections replace the old ones; send [] to clear them)");
      }
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
    boolean purge = "true".equalsIgnoreCase(Wire.query(ctx.queryParams(), "purge"));
    if (purge && !CurrentUser.isAdmin(ctx)) {
      Responses.error(ctx, ApiError.of(ErrorCode.FORBIDDEN, "Purging files needs the ADM permission"));
      return;
    }
    if (!ContentId.looksValid(id)) {
      fail(ctx, AnnotationService.notFound(id));
      return;
    }
    service.delete(id, purge).onSuccess(x -> ctx.response().setStatusCode(204).end()).onFailure(e -> fail(ctx, e));
  }

  private void status(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    JsonObject body = jsonObject(ctx);
    if (body == null) {
      return;
    }
    AnnotationStatus status = requiredStatus(ctx, Wire.ci(body));
    if (status == null) {
      return;
    }
    if (!ContentId.looksValid(id)) {
      fail(ctx, AnnotationService.notFound(id));
      return;
    }
    service.setStatus(List.of(id), status, false)
        .onSuccess(r -> Responses.json(ctx, 200, new JsonObject().put("id", id).put("status", status.wire())
            .put("changed", !r.changed().isEmpty())))
        .onFailure(e -> fail(ctx, e));
  }

  private void bulkStatus(RoutingContext ctx) {
    JsonObject body = jsonObject(ctx);
    if (body == null) {
      return;
    }
    JsonObject f = Wire.ci(body);
    Object raw = f.getValue("annotationids");
    if (!(raw instanceof JsonArray ids) || ids.isEmpty()) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST,
          "annotationIds: a non-empty list of annotation ids is required"));
      return;
    }
    if (ids.size() > MAX_BULK) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "annotationIds: at most " + MAX_BULK + " ids"));
      return;
    }
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
