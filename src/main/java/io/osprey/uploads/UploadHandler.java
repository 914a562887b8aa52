package io.osprey.uploads;

import io.osprey.bus.Bus;
import io.osprey.http.ApiError;
import io.osprey.http.CurrentUser;
import io.osprey.http.ErrorCode;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpServerFileUpload;
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

  /** One received file part. */
  private static final class Part {
    final int index;
    final String filename;
    final Path tmp;
    long size;
    boolean tooLarge;
    boolean discarded;
    Throwable writeError;
    final Promise<Void> received = Promise.promise();
    Bus.Inspection inspection;

    Part(int index, String filename, Path tmp) {
      this.index = index;
      this.filename = filename;
      this.tmp = tmp;
    }
  }

  /** State of one upload request. */
  private final class Receipt {
    private final RoutingContext ctx;
    private final List<Part> parts = new ArrayList<>();
    private boolean failed;

    Receipt(RoutingContext ctx) {
      this.ctx = ctx;
    }

    void begin() {
      HttpServerRequest request = ctx.request();
      request.setExpectMultipart(true);
      request.uploadHandler(this::onFile);
      request.exceptionHandler(e -> {
        // The client went away or sent a broken body: no answer is possible, only clean-up.
        failed = true;
        LOG.info("rid={} upload aborted by the client: {}", RequestIds.of(ctx), e.toString());
        discardTemps();
      });
      request.endHandler(v -> onBodyEnd());
      request.resume();
    }

    private void onFile(HttpServerFileUpload upload) {
      Part part = new Part(parts.size(), FileNames.sanitize(upload.filename()),
          layout.tmp().resolve(UUID.randomUUID() + ".part"));
      parts.add(part);
      if (part.index >= limits.maxFiles() || failed) {
        // Past the file limit nothing more is written; the body is still read so the client gets its answer.
        part.discarded = true;
        upload.handler(b -> { }).endHandler(v -> part.received.tryComplete());
        upload.exceptionHandler(e -> part.received.tryComplete());
        return;
      }
      upload.pause();
      vertx.fileSystem().open(part.tmp.toString(), new OpenOptions().setWrite(true).setCreateNew(true))
          .onSuccess(file -> receiveInto(upload, part, file))
          .onFailure(e -> {
            part.writeError = e;
            upload.handler(b -> { }).endHandler(v -> part.received.tryComplete());
            upload.exceptionHandler(x -> part.received.tryComplete());
            upload.resume();
          });
    }

    private void receiveInto(HttpServerFileUpload upload, Part part, AsyncFile file) {
      file.exceptionHandler(e -> part.writeError = e);
      upload.handler(buffer -> {
        part.size += buffer.length();
        if (part.size > limits.maxFileBytes()) {
          // Keep counting, stop writing: an oversized file never occupies more than the limit on disk.
          part.tooLarge = true;
          return;
        }
        if (part.writeError == null) {
          file.write(buffer);
          if (file.writeQueueFull()) {
            upload.pause();
            file.drainHandler(v -> upload.resume());
          }
        }
      });
      upload.exceptionHandler(e -> file.close().onComplete(x -> part.received.tryComplete()));
      upload.endHandler(v -> file.close().onComplete(closed -> {
        if (closed.failed() && part.writeError == null) {
          part.writeError = closed.cause();
        }
        part.received.tryComplete();
      }));
      upload.resume();
    }

    private void onBodyEnd() {
      if (failed) {
        return;
      }
      Future.join(parts.stream().map(p -> p.received.future()).toList())
          .onComplete(all -> afterReceived());
    }

    private void afterReceived() {
      if (parts.isEmpty()) {
        finish(ApiError.of(ErrorCode.NO_FILES,
            "The upload contains no files; send each image as a multipart 'files' part with a filename"));
        return;
      }
      if (parts.size() > limits.maxFiles()) {
        finish(ApiError.of(ErrorCode.TOO_MANY_FILES,
                "Maximum " + limits.maxFiles() + " files per upload (received " + parts.size() + ")")
            .withDetails(new JsonObject().put("max_files", limits.maxFiles()).put("received", parts.size())));
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
                finish(ApiError.of(ErrorCode.DATABASE_ERROR));
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

    private void finish(ApiError error) {
      discardTemps();
      Responses.error(ctx, error);
    }

    private void discardTemps() {
      List<String> paths = parts.stream().filter(p -> !p.discarded).map(p -> p.tmp.toString()).toList();
      if (!paths.isEmpty()) {
        discard(paths);
      }
    }

    private void discard(List<String> paths) {
      vertx.eventBus().request(Bus.UPLOAD_DISCARD, new Bus.DiscardFiles(paths).toJson(), WORKER_CALL)
          .onFailure(e -> LOG.warn("rid={} clean-up failed, the storage janitor will retry: {}",
              RequestIds.of(ctx), e.getMessage()));
    }
  }
}
