package io.osprey.uploads;

import io.osprey.bus.Bus;
import io.osprey.http.ApiError;
import io.osprey.http.ApiException;
import io.osprey.http.MultipartBody;
import io.osprey.http.CurrentUser;
import io.osprey.errors.ErrorCode;
import io.osprey.imaging.ImageInspector;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /api/v1/inference/upload}. The multipart body is streamed part by part into temp files (never held
 * in memory), each file capped at the size limit while receiving; then every file is inspected on a worker, and
 * only when all pass are they moved into {@code uploads/{upload_id}/} and recorded in one transaction. Any failure
 * removes everything this request wrote.
 */
public final class UploadHandler implements Handler<RoutingContext> {
  private static final Logger LOG = LoggerFactory.getLogger(UploadHandler.class);
  private static final DeliveryOptions WORKER_CALL = new DeliveryOptions().setSendTimeout(120_000);

  private final Vertx vertx;
  private final StorageLayout layout;
  private final UploadRepository repository;
  private final UploadLimits limits;

  public UploadHandler(Vertx vertx, StorageLayout layout, UploadRepository repository, UploadLimits limits) {
    this.vertx = vertx;
    this.layout = layout;
    this.repository = repository;
    this.limits = limits;
  }

  @Override
  public void handle(RoutingContext ctx) {
    HttpServerRequest request = ctx.request();
    String contentType = request.getHeader("Content-Type");
    if (contentType == null || !contentType.toLowerCase().startsWith("multipart/form-data")) {
      Responses.error(ctx, ApiError.of(ErrorCode.UNSUPPORTED_MEDIA_TYPE,
          "Send the images as multipart/form-data with one 'files' part per image"));
      return;
    }
    new Receipt(ctx).begin();
  }

  /** One received file part with what inspection said about it. */
  private static final class Part {
    final int index;
    final String filename;
    final Path tmp;
    final long size;
    final boolean tooLarge;
    final Throwable writeError;
    Bus.Inspection inspection;

    Part(MultipartBody.FilePart f) {
      this.index = f.index();
      this.filename = FileNames.sanitize(f.fileName());
      this.tmp = f.path();
      this.size = f.size();
      this.tooLarge = f.tooLarge();
      this.writeError = f.writeError();
    }
  }

  /** State of one upload request. */
  private final class Receipt {
    private final RoutingContext ctx;
    private final List<Part> parts = new ArrayList<>();

    Receipt(RoutingContext ctx) {
      this.ctx = ctx;
    }

    void begin() {
      // Streamed part by part into temp files; a malformed body, too many files or a client that goes away ends
      // here with the temp files already deleted.
      MultipartBody.receive(ctx, layout.tmp(), new MultipartBody.Limits(limits.maxFiles(), limits.maxFileBytes(),
              Long.MAX_VALUE, FileNames.MAX_CLIENT_LENGTH, "upload"))
          .onFailure(e -> {
            if (e instanceof ApiException api) {
              LOG.info("rid={} upload refused: {}", RequestIds.of(ctx), api.error().message());
              Responses.error(ctx, api.error());
            }
          })
          .onSuccess(body -> {
            body.files().forEach(f -> parts.add(new Part(f)));
            afterReceived();
          });
    }

    private void afterReceived() {
      if (parts.isEmpty()) {
        finish(ApiError.of(ErrorCode.NO_FILES,
            "The upload contains no files; send each image as a multipart 'files' part with a filename"));
        return;
      }
      for (Part p : parts) {
        if (p.writeError != null) {
          LOG.error("rid={} writing received file failed: {}", RequestIds.of(ctx), p.writeError.toString());
          finish(ApiError.of(ErrorCode.STORAGE_ERROR));
          return;
        }
      }
      List<Future<Void>> inspections = new ArrayList<>();
      for (Part p : parts) {
        if (p.tooLarge) {
          continue;
        }
        inspections.add(vertx.eventBus()
            .<JsonObject>request(Bus.UPLOAD_INSPECT, new Bus.InspectFile(p.tmp.toString(), p.filename).toJson(),
                WORKER_CALL)
            .map(reply -> {
              p.inspection = Bus.Inspection.fromJson(reply.body());
              return null;
            }));
      }
      Future.all(inspections).onComplete(done -> {
        if (done.failed()) {
          LOG.error("rid={} inspecting received files failed: {}", RequestIds.of(ctx), done.cause().toString());
          finish(ApiError.of(ErrorCode.STORAGE_ERROR));
          return;
        }
        JsonArray errors = validationErrors();
        if (!errors.isEmpty()) {
          String firstCode = errors.getJsonObject(0).getString("code");
          finish(ApiError.of(ErrorCode.valueOf(firstCode), errors.size() + " of " + parts.size()
                  + " file(s) failed validation; nothing was stored")
              .withErrors(errors));
          return;
        }
        store();
      });
    }

    private JsonArray validationErrors() {
      JsonArray errors = new JsonArray();
      for (Part p : parts) {
        String code;
        String message;
        if (p.tooLarge) {
          code = ErrorCode.FILE_TOO_LARGE.name();
          message = "File exceeds " + limits.maxFileBytes() / (1024 * 1024) + "MB limit ("
              + p.size + " bytes received)";
        } else if (p.inspection.errorCode() != null) {
          code = p.inspection.errorCode();
          message = p.inspection.errorMessage();
        } else if (!limits.dimensionsOk(p.inspection.width(), p.inspection.height())) {
          code = ErrorCode.INVALID_DIMENSIONS.name();
          message = "Image must be " + limits.minDimension() + "x" + limits.minDimension() + " to "
              + limits.maxDimension() + "x" + limits.maxDimension() + " (got " + p.inspection.width() + "x"
              + p.inspection.height() + ")";
        } else {
          continue;
        }
        errors.add(new JsonObject()
            .put("index", p.index)
            .put("field", "files[" + p.index + "]")
            .put("filename", p.filename)
            .put("code", code)
            .put("message", message)
            .put("msg", message));
      }
      return errors;
    }

    private void store() {
      String uploadId = UUID.randomUUID().toString();
      Path directory = layout.uploadDir(uploadId);
      List<StoredFile> files = new ArrayList<>();
      List<Bus.Move> moves = new ArrayList<>();
      for (Part p : parts) {
        String fileId = UUID.randomUUID().toString();
        ImageInspector.Format format = ImageInspector.Format.valueOf(p.inspection.format());
        Path target = layout.uploadFile(uploadId, fileId, format.extension());
        moves.add(new Bus.Move(p.tmp.toString(), target.toString()));
        files.add(new StoredFile(fileId, p.index, p.filename, p.size, p.inspection.width(), p.inspection.height(),
            format.name(), layout.relative(target)));
      }
      vertx.eventBus().request(Bus.UPLOAD_STORE, new Bus.StoreUpload(directory.toString(), moves).toJson(),
              WORKER_CALL)
          .onFailure(e -> {
            LOG.error("rid={} storing upload {} failed: {}", RequestIds.of(ctx), uploadId, e.getMessage());
            finish(ApiError.of(ErrorCode.STORAGE_ERROR));
          })
          .onSuccess(stored -> repository.insert(uploadId, CurrentUser.of(ctx), files)
              .onFailure(e -> {
                LOG.error("rid={} recording upload {} failed: {}", RequestIds.of(ctx), uploadId, e.toString());
                discard(List.of(directory.toString()));
                finish(io.osprey.http.DatabaseErrors.map(e, ApiError.of(ErrorCode.DATABASE_ERROR)));
              })
              .onSuccess(createdAt -> {
                LOG.info("rid={} stored upload {} with {} file(s), {} bytes", RequestIds.of(ctx), uploadId,
                    files.size(), files.stream().mapToLong(StoredFile::sizeBytes).sum());
                JsonArray array = new JsonArray();
                files.forEach(f -> array.add(f.toJson()));
                Responses.json(ctx, 200, new JsonObject()
                    .put("upload_id", uploadId)
                    .put("created_at", createdAt.toInstant().toString())
                    .put("file_count", files.size())
                    .put("total_size_bytes", files.stream().mapToLong(StoredFile::sizeBytes).sum())
                    .put("files", array));
              }));
    }

    /** Answers once the temp files are gone, so nothing of a refused upload outlives its answer. */
    private void finish(ApiError error) {
      List<String> paths = parts.stream().map(p -> p.tmp.toString()).toList();
      (paths.isEmpty() ? Future.<Void>succeededFuture() : discard(paths))
          .onComplete(x -> Responses.error(ctx, error));
    }

    private Future<Void> discard(List<String> paths) {
      return vertx.eventBus().request(Bus.UPLOAD_DISCARD, new Bus.DiscardFiles(paths).toJson(), WORKER_CALL)
          .onFailure(e -> LOG.warn("rid={} clean-up failed, the storage janitor will retry: {}",
              RequestIds.of(ctx), e.getMessage()))
          .<Void>mapEmpty();
    }
  }
}
