package io.osprey.annotations;

import io.osprey.annotations.AnnotationRepository.Media;
import io.osprey.auth.AuthHandler;
import io.osprey.auth.Permission;
import io.osprey.auth.TokenVerifier;
import io.osprey.http.ApiError;
import io.osprey.http.ApiException;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.http.JsonBodies;
import io.osprey.http.MultipartBody;
import io.osprey.http.RequestContract;
import io.osprey.http.Responses;
import io.osprey.http.Text;
import io.osprey.imaging.ImageInspector;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * F5: media upload, single ({@code POST /media}: a multipart file, or JSON with base64 {@code data}) and batch
 * ({@code POST /media/batch}: multipart files plus {@code waypointId}). Files are checked, staged, their rows
 * committed, then moved into place (the same crash discipline as annotations). All or nothing per request.
 */
public final class MediaApi {
  private final AnnotationService service;
  private final TokenVerifier verifier;
  private final Path receiveDir;
  private final long maxRequestBytes;
  private final int maxFiles;
  private final long maxDataBytes;

  /**
   * {@code maxRequestBytes} bounds the files of one multipart request (streamed to disk); {@code maxDataBytes} the
   * decoded base64 {@code data} of a JSON request, which is held in memory and so is bounded like an annotation
   * image ({@code annotations.max_image_bytes}).
   */
  public MediaApi(AnnotationService service, TokenVerifier verifier, Path receiveDir, long maxRequestBytes,
                  int maxFiles, long maxDataBytes) {
    this.service = service;
    this.verifier = verifier;
    this.receiveDir = receiveDir;
    this.maxRequestBytes = maxRequestBytes;
    this.maxFiles = maxFiles;
    this.maxDataBytes = maxDataBytes;
  }

  public void mount(Router router) {
    AuthHandler ann = new AuthHandler(verifier, Permission.ANN, false);
    AuthHandler read = AuthHandler.anyOf(verifier, Permission.ANN, Permission.DATASET);
    // Multipart bodies are streamed by MultipartBody in the handler; only a JSON body is read into memory, and
    // only up to what base64 data of the largest allowed file needs.
    BodyHandler json = BodyHandler.create(false).setBodyLimit(AnnotationsApi.base64BodyLimit(maxDataBytes));
    ann.guard(router.post("/media"));
    router.post("/media").handler(ctx -> {
      if (MultipartBody.isMultipart(ctx)) {
        ctx.next();
      } else {
        json.handle(ctx);
      }
    }).handler(ctx -> upload(ctx, false));
    ann.guard(router.post("/media/batch"));
    router.post("/media/batch").handler(ctx -> upload(ctx, true));
    read.guard(router.get("/media/:id")).handler(this::get);
    read.guard(router.get("/media/:id/file")).handler(this::file);
  }

  /** A checked file waiting in a staging folder. */
  record StagedMedia(String id, String name, String mediaType, String format, String extension, long size,
                     Integer width, Integer height, Path staged, Path target) {
  }

  /** What a media request carried: its fields, and either its file parts or base64 data. */
  private record Received(JsonObject fields, List<MultipartBody.FilePart> files, MultipartBody.Result body) {
    Future<Void> discard() {
      return body == null ? Future.succeededFuture() : body.discard();
    }
  }

  private void upload(RoutingContext ctx, boolean batch) {
    boolean multipart = MultipartBody.isMultipart(ctx);
    if (!multipart && batch) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST,
          "Send multipart/form-data with file parts and a waypointId field"));
      return;
    }
    Future<Received> received;
    if (multipart) {
      received = MultipartBody.receive(ctx, receiveDir, new MultipartBody.Limits(batch ? maxFiles : 1, Long.MAX_VALUE,
              maxRequestBytes, io.osprey.uploads.FileNames.MAX_CLIENT_LENGTH))
          .compose(body -> {
            String problem = Text.firstProblem(body.fields());
            if (problem != null) {
              return body.discard().transform(x -> Future.failedFuture(new ApiException(Text.invalid(problem))));
            }
            return Future.succeededFuture(new Received(formFields(body), body.files(), body));
          });
    } else {
      // Parsed on a worker: with base64 data the body is up to about 75 MB of JSON.
      // Checked against the uploadMedia schema on the same worker.
      RequestContract contract = RequestContract.of(ctx);
      received = service.blocking(() -> {
        RequestContract.CheckedBody checked = contract.checkBody("uploadMedia",
            JsonBodies.object(ctx.body().buffer(), ctx.body().length()));
        if (!checked.ok()) {
          throw AnnotationsApi.invalidFields(checked.problems());
        }
        return new Received(Wire.ci((JsonObject) checked.body()), List.of(), null);
      });
    }
    received.onFailure(e -> AnnotationsApi.fail(ctx, e))
        .onSuccess(r -> upload(ctx, batch, r).eventually(r::discard)
            .onSuccess(rows -> {
              if (batch) {
                JsonArray out = new JsonArray();
                rows.forEach(m -> out.add(m.toJson()));
                ctx.response().setStatusCode(201).putHeader("Content-Type", "application/json; charset=utf-8")
                    .end(out.encode());
              } else {
                ctx.response().putHeader("Location", "/media/" + rows.get(0).id());
                Responses.json(ctx, 201, rows.get(0).toJson());
              }
            })
            .onFailure(e -> AnnotationsApi.fail(ctx, e)));
  }

  private Future<List<Media>> upload(RoutingContext ctx, boolean batch, Received r) {
    boolean multipart = r.body() != null;
    List<String> errors = new ArrayList<>();
    JsonObject f = r.fields();
    String waypointId = Wire.string(f, "waypointId", errors);
    String flightId = Wire.string(f, "flightId", errors);
    String name = Wire.string(f, "name", errors);
    List<MultipartBody.FilePart> uploads = r.files();
    String data = !multipart && f.getValue("data") instanceof String s ? s : null;
    if (multipart && uploads.isEmpty() || !multipart && data == null) {
      errors.add(multipart ? "files: at least one file part is required" : "data: the base64 file content is required");
    }
    if (data != null && data.length() > AnnotationsApi.base64Chars(maxDataBytes) + 1024) {
      return Future.failedFuture(new ApiException(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "data: more than "
          + maxDataBytes + " bytes once decoded (annotations.max_image_bytes); send large files as multipart")));
    }
    if (!errors.isEmpty()) {
      return Future.failedFuture(AnnotationsApi.invalid(errors));
    }
    String user = CurrentUser.of(ctx);
    return service.paths().get().compose(dirs -> service.blocking(() -> {
      List<StagedMedia> staged = new ArrayList<>();
      JsonArray fileErrors = new JsonArray();
      try {
        if (data != null) {
          byte[] bytes = CreateRequests.base64(data);
          if (bytes.length > maxDataBytes) {
            throw new ApiException(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "data: " + bytes.length
                + " bytes exceed the limit of " + maxDataBytes + " (annotations.max_image_bytes)"));
          }
          Path received = receiveDir.resolve(UUID.randomUUID() + ".b64");
          Files.createDirectories(receiveDir);
          try {
            Files.write(received, bytes);
            stageOne(received, name != null ? name : "media", dirs, staged, fileErrors);
          } finally {
            // Moved into staging when accepted; a refused file must not wait for the janitor.
            Files.deleteIfExists(received);
          }
        } else {
          for (MultipartBody.FilePart u : uploads) {
            String fileName = u.fileName() == null || u.fileName().isBlank() ? u.field() : u.fileName();
            stageOne(u.path(), !batch && name != null ? name : fileName, dirs, staged, fileErrors);
          }
        }
      } catch (ApiException e) {
        throw e;
      } catch (IllegalArgumentException e) {
        fileErrors.add(new JsonObject().put("file", "data").put("code", "INVALID_FORMAT")
            .put("message", "data: not valid base64"));
      } catch (IOException | RuntimeException e) {
        staged.forEach(s -> AnnotationFiles.deleteQuietly(s.staged()));
        throw new ApiException(ApiError.of(ErrorCode.STORAGE_ERROR, "Server storage unavailable: " + e.getMessage()),
            e);
      }
      if (!fileErrors.isEmpty()) {
        staged.forEach(s -> AnnotationFiles.deleteQuietly(s.staged()));
        JsonObject first = fileErrors.getJsonObject(0);
        throw new ApiException(ApiError.of(ErrorCode.valueOf(first.getString("code")), first.getString("message"))
            .withErrors(fileErrors));
      }
      return staged;
    })).compose(staged -> service.repository().pool().withTransaction(tx -> {
      Future<Void> chain = Future.succeededFuture();
      for (StagedMedia s : staged) {
        Media m = new Media(s.id(), s.name(), s.mediaType(), s.format(), s.size(), s.width(), s.height(),
            s.target().toString(), flightId, waypointId, "New", "pending", user, null);
        chain = chain.compose(x -> service.repository().insertMediaIfAbsent(tx, m)).mapEmpty();
      }
      return chain;
    }).onFailure(e -> staged.forEach(s -> AnnotationFiles.deleteQuietly(s.staged())))
        .compose(x -> service.blocking(() -> {
          for (StagedMedia s : staged) {
            service.files().publish(s.staged(), s.target());
          }
          return null;
        }))
        .compose(x -> {
          Future<Void> chain = Future.succeededFuture();
          for (StagedMedia s : staged) {
            chain = chain.compose(y -> service.repository().mediaFilesState(service.repository().pool(), s.id(),
                "complete"));
          }
          return chain;
        })
        .compose(x -> {
          List<Future<Media>> rows = staged.stream()
              .map(s -> service.repository().findMedia(service.repository().pool(), s.id())).toList();
          return Future.all(rows).map(all -> rows.stream().map(Future::result).toList());
        }));
  }

  private static JsonObject formFields(MultipartBody.Result body) {
    JsonObject out = new JsonObject();
    body.fields().forEach(e -> out.put(e.getKey().toLowerCase(), e.getValue()));
    return out;
  }

  private void stageOne(Path received, String fileName, Directories dirs, List<StagedMedia> staged,
                        JsonArray errors) throws IOException {
    byte[] head = new byte[16];
    int n;
    try (InputStream in = Files.newInputStream(received)) {
      n = in.readNBytes(head, 0, head.length);
    }
    long size = Files.size(received);
    ImageInspector.Format image = ImageInspector.formatFromMagic(head, n);
    String video = image == null ? videoExtension(head, n) : null;
    if (size == 0 || image == null && video == null) {
      errors.add(new JsonObject().put("file", fileName).put("code", "INVALID_FORMAT").put("message",
          "Only JPEG, PNG, TIFF images and MP4, MOV, MKV, WebM, AVI videos allowed: " + fileName));
      return;
    }
    Integer width = null;
    Integer height = null;
    if (image != null) {
      ImageInspector.Result r = ImageInspector.inspect(received, "image." + image.extension());
      if (!r.ok()) {
        errors.add(new JsonObject().put("file", fileName).put("code", r.errorCode()).put("message",
            r.errorMessage()));
        return;
      }
      width = r.width();
      height = r.height();
      // Media are stored without a thumbnail, but an annotation may be made of them later: the same budget and the
      // same proof of decoding as an annotation image, before anything is committed.
      String tooLarge = service.files().budget().violation(r.width(), r.height());
      if (tooLarge != null) {
        errors.add(new JsonObject().put("file", fileName).put("code", "INVALID_DIMENSIONS").put("message",
            fileName + ": " + tooLarge));
        return;
      }
      try {
        service.files().verifyDecodes(received, width, height);
      } catch (AnnotationFiles.Rejected e) {
        errors.add(new JsonObject().put("file", fileName).put("code", e.code()).put("message",
            fileName + ": " + e.getMessage()));
        return;
      }
    }
    String id = ContentId.of(received);
    String ext = image != null ? image.extension() : video;
    Path stagingDir = image != null ? dirs.staging() : dirs.videos().resolve(".staging");
    Path stagedPath = stagingDir.resolve(id + "." + ext + "." + UUID.randomUUID() + AnnotationFiles.STAGED_SUFFIX);
    AnnotationFiles.move(received, stagedPath);
    AnnotationFiles.touch(stagedPath);
    Path target = image != null ? dirs.image(id, ext) : dirs.videos().resolve(id + "." + ext);
    staged.add(new StagedMedia(id, safeName(fileName), image != null ? "Image" : "Video",
        image != null ? image.name() : ext.toUpperCase(), ext, size, width, height, stagedPath, target));
  }

  static String safeName(String name) {
    String base = Path.of(name.replace('\\', '/')).getFileName() == null ? "media"
        : Path.of(name.replace('\\', '/')).getFileName().toString();
    return base.length() > 255 ? base.substring(0, 255) : base;
  }

  /** Container formats recognised by their magic bytes; null for anything else. */
  static String videoExtension(byte[] h, int n) {
    if (n >= 12 && h[4] == 'f' && h[5] == 't' && h[6] == 'y' && h[7] == 'p') {
      return h[8] == 'q' && h[9] == 't' ? "mov" : "mp4";
    }
    if (n >= 4 && (h[0] & 0xFF) == 0x1A && (h[1] & 0xFF) == 0x45 && (h[2] & 0xFF) == 0xDF && (h[3] & 0xFF) == 0xA3) {
      return "mkv";
    }
    if (n >= 12 && h[0] == 'R' && h[1] == 'I' && h[2] == 'F' && h[3] == 'F' && h[8] == 'A' && h[9] == 'V'
        && h[10] == 'I') {
      return "avi";
    }
    return null;
  }

  private void get(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    if (!validId(ctx, "getMedia")) {
      return;
    }
    media(id).onSuccess(m -> Responses.json(ctx, 200, m.toJson())).onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

  /** Answers 404 MEDIA_NOT_FOUND and says false when the path's id is not a media id (MediaId). */
  private static boolean validId(RoutingContext ctx, String operationId) {
    if (RequestContract.of(ctx).checkPath(operationId, ctx::pathParam).isEmpty()) {
      return true;
    }
    AnnotationsApi.fail(ctx, AnnotationService.mediaNotFound(ctx.pathParam("id")));
    return false;
  }

  private Future<Media> media(String id) {
    return service.repository().findMedia(service.repository().pool(), id)
        .compose(m -> m == null ? Future.failedFuture(AnnotationService.mediaNotFound(id)) : Future.succeededFuture(m));
  }

  private void file(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    if (!validId(ctx, "getMediaFile")) {
      return;
    }
    media(id).compose(m -> ctx.vertx().fileSystem().exists(m.path()).compose(ok -> ok ? Future.succeededFuture(m)
        : Future.failedFuture(new ApiException(ApiError.of(ErrorCode.FILE_NOT_FOUND, "File of media " + id
            + " not found"))))).onSuccess(m -> {
      String ext = AnnotationService.extension(m.path());
      String type = switch (ext) {
        case "png" -> "image/png";
        case "tiff" -> "image/tiff";
        case "jpg" -> "image/jpeg";
        case "mov" -> "video/quicktime";
        case "mkv" -> "video/x-matroska";
        case "avi" -> "video/x-msvideo";
        default -> "video/mp4";
      };
      ctx.response().putHeader("Content-Type", type).sendFile(m.path());
    }).onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

}
