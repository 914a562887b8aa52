package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.netty.handler.codec.http.multipart.HttpPostRequestDecoder;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpServerFileUpload;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Receives one multipart/form-data body: file parts are streamed into temp files (never held in memory), fields are
 * kept (bounded by {@code http.max_form_attribute_bytes}). Every way a body can be malformed ends in a failed future
 * carrying an {@link ApiException} (400 {@code MALFORMED_REQUEST}, {@code TOO_MANY_FILES}, 413) after the temp files
 * written so far are deleted, so the caller always has something to answer and nothing is left behind:
 * <ul>
 *   <li>the decoder's own errors (no boundary found, garbage or oversized part headers, an unknown
 *   Content-Transfer-Encoding, too many parts) arrive through the request's exception handler while the connection
 *   is still open, and are answered rather than only cleaned up;</li>
 *   <li>a file part that never ends (the closing boundary is missing) is noticed after the body ends: when no part
 *   makes progress for a moment the body is refused, instead of waiting for an end that never comes;</li>
 *   <li>limits (file count, total bytes) fail at once; the rest of the body is read and dropped, nothing more is
 *   written.</li>
 * </ul>
 * A file over {@code maxFileBytes} is only marked {@link FilePart#tooLarge()} (its bytes stop being written) so that
 * a route can report it among other per-file errors.
 */
public final class MultipartBody {
  private static final Logger LOG = LoggerFactory.getLogger(MultipartBody.class);
  /** How long after the body's end parts may go without progress before the body is judged truncated. */
  private static final long STALL_MS = 1500;

  /** Bounds of one body: file parts, bytes of one file (marked, not refused), bytes of all files, file name length. */
  public record Limits(int maxFiles, long maxFileBytes, long maxTotalBytes, int maxFileNameChars, String perWhat) {
    public Limits(int maxFiles, long maxFileBytes, long maxTotalBytes, int maxFileNameChars) {
      this(maxFiles, maxFileBytes, maxTotalBytes, maxFileNameChars, "request");
    }
  }

  /** One file part, in a temp file. */
  public static final class FilePart {
    private final int index;
    private final String field;
    private final String fileName;
    private final Path path;
    private long size;
    private boolean tooLarge;
    private boolean complete;
    private Throwable writeError;
    private final Promise<Void> opened = Promise.promise();

    FilePart(int index, String field, String fileName, Path path) {
      this.index = index;
      this.field = field;
      this.fileName = fileName;
      this.path = path;
    }

    public int index() {
      return index;
    }

    public String field() {
      return field;
    }

    /** As the client sent it (checked for characters PostgreSQL refuses, not otherwise cleaned). */
    public String fileName() {
      return fileName;
    }

    public Path path() {
      return path;
    }

    public long size() {
      return size;
    }

    public boolean tooLarge() {
      return tooLarge;
    }

    public Throwable writeError() {
      return writeError;
    }
  }

  /** The received body: its fields and its file parts (temp files the caller discards when done). */
  public record Result(MultiMap fields, List<FilePart> files, Vertx vertx) {
    public FilePart file(String field) {
      return files.stream().filter(f -> f.field().equalsIgnoreCase(field)).findFirst().orElse(null);
    }

    /** Deletes the temp files still there (moved ones are simply absent). */
    public Future<Void> discard() {
      return deleteAll(vertx, files);
    }
  }

  private final RoutingContext ctx;
  private final Vertx vertx;
  private final Path dir;
  private final Limits limits;
  private final List<FilePart> files = new ArrayList<>();
  private final Promise<Result> result = Promise.promise();
  private boolean failed;
  private boolean bodyEnded;
  private long totalBytes;
  private long progress;
  private long watchdog = -1;

  private MultipartBody(RoutingContext ctx, Path dir, Limits limits) {
    this.ctx = ctx;
    this.vertx = ctx.vertx();
    this.dir = dir;
    this.limits = limits;
  }

  public static boolean isMultipart(RoutingContext ctx) {
    String type = ctx.request().getHeader("Content-Type");
    return type != null && type.toLowerCase(Locale.ROOT).startsWith("multipart/form-data");
  }

  /** Starts receiving the request's body; the future ends once it is fully received or refused. */
  public static Future<Result> receive(RoutingContext ctx, Path dir, Limits limits) {
    MultipartBody body = new MultipartBody(ctx, dir, limits);
    body.begin();
    return body.result.future();
  }

  private void begin() {
    HttpServerRequest request = ctx.request();
    String type = request.getHeader("Content-Type");
    if (type == null || !type.toLowerCase(Locale.ROOT).matches("(?s)multipart/form-data\\s*;.*\\bboundary\\s*=.+")) {
      // Netty would wait for a boundary that can never come; say so at once.
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST,
          "multipart/form-data needs a boundary parameter in its Content-Type"));
      request.resume();
      return;
    }
    try {
      request.setExpectMultipart(true);
    } catch (RuntimeException e) {
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST, "The multipart body cannot be decoded: " + e.getMessage()));
      request.resume();
      return;
    }
    request.uploadHandler(this::onFile);
    request.exceptionHandler(this::onError);
    request.endHandler(v -> onBodyEnd());
    request.resume();
  }

  private void onFile(HttpServerFileUpload upload) {
    int index = files.size();
    if (failed) {
      drop(upload);
      return;
    }
    String field = upload.name();
    String fileName = upload.filename();
    if (index >= limits.maxFiles()) {
      drop(upload);
      // Refused as soon as the limit is passed: the rest of the body is read and dropped, nothing more is written.
      fail(ApiError.of(ErrorCode.TOO_MANY_FILES, "Maximum " + limits.maxFiles() + " files per "
              + limits.perWhat() + " (received " + (index + 1) + " before the request was refused)")
          .withDetails(new JsonObject().put("max_files", limits.maxFiles()).put("received", index + 1)));
      return;
    }
    String where = "files[" + index + "].filename";
    if (fileName != null && fileName.length() > limits.maxFileNameChars()) {
      drop(upload);
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST, where + ": a file name has at most " + limits.maxFileNameChars()
          + " characters (got " + fileName.length() + ")"));
      return;
    }
    String bad = Text.problem(fileName);
    if (bad == null) {
      bad = Text.problem(field);
      where = "files[" + index + "].name";
    }
    if (bad != null) {
      drop(upload);
      fail(Text.invalid(where, bad));
      return;
    }
    FilePart part = new FilePart(index, field, fileName, dir.resolve(UUID.randomUUID() + ".part"));
    files.add(part);
    upload.pause();
    vertx.fileSystem().mkdirs(dir.toString())
        .compose(x -> vertx.fileSystem().open(part.path.toString(), new OpenOptions().setWrite(true).setCreateNew(true)))
        .onComplete(x -> part.opened.tryComplete())
        .onSuccess(file -> {
          if (failed) {
            // Refused while the file was opening: it is deleted with the others, nothing is written to it.
            file.close();
            drop(upload);
            upload.resume();
            return;
          }
          write(upload, part, file);
        })
        .onFailure(e -> {
          part.writeError = e;
          upload.handler(b -> progress++).endHandler(v -> complete(part));
          upload.exceptionHandler(x -> complete(part));
          upload.resume();
        });
  }

  private void drop(HttpServerFileUpload upload) {
    upload.handler(b -> { }).endHandler(v -> { }).exceptionHandler(e -> { });
  }

  private void write(HttpServerFileUpload upload, FilePart part, AsyncFile file) {
    file.exceptionHandler(e -> part.writeError = e);
    upload.handler(buffer -> {
      progress++;
      part.size += buffer.length();
      totalBytes += buffer.length();
      if (failed) {
        return;
      }
      if (totalBytes > limits.maxTotalBytes()) {
        fail(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE, "The request's files exceed the limit of "
            + limits.maxTotalBytes() + " bytes (see docs/configuration.md)"));
        return;
      }
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
    upload.exceptionHandler(e -> file.close().onComplete(x -> complete(part)));
    upload.endHandler(v -> file.close().onComplete(closed -> {
      if (closed.failed() && part.writeError == null) {
        part.writeError = closed.cause();
      }
      complete(part);
    }));
    upload.resume();
  }

  private void complete(FilePart part) {
    progress++;
    part.complete = true;
    maybeFinish();
  }

  private void onError(Throwable e) {
    if (e instanceof HttpClosedException || ctx.response().closed()) {
      // The client went away: nobody to answer, only clean-up.
      LOG.info("rid={} multipart body aborted by the client: {}", RequestIds.of(ctx), e.toString());
      failWith(e);
      return;
    }
    if (ctx.response().ended()) {
      // The HTTP layer could not decode the body (a bad chunk) and HttpEdge has answered: only clean-up is left.
      LOG.info("rid={} multipart body undecodable, answered by the HTTP edge: {}", RequestIds.of(ctx), e.toString());
      failWith(e);
      return;
    }
    if (e instanceof HttpPostRequestDecoder.TooManyFormFieldsException) {
      fail(ApiError.of(ErrorCode.TOO_MANY_FILES, "The multipart body has too many parts (http.max_form_parts)"));
    } else if (e instanceof HttpPostRequestDecoder.TooLongFormFieldException) {
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST,
          "A multipart part's headers are too long (http.max_part_header_bytes)"));
    } else if (String.valueOf(e.getMessage()).contains("Size exceed")
        || e.getCause() != null && String.valueOf(e.getCause().getMessage()).contains("Size exceed")) {
      fail(ApiError.of(ErrorCode.PAYLOAD_TOO_LARGE,
          "A multipart field exceeds http.max_form_attribute_bytes (see docs/configuration.md)"));
    } else if (e instanceof HttpPostRequestDecoder.ErrorDataDecoderException) {
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST, "The multipart body cannot be decoded: "
          + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage())));
    } else {
      // Netty's decoder fails with a NullPointerException on a part without a named Content-Disposition (garbage
      // part headers end up the same way); its text would only confuse a client.
      LOG.info("rid={} multipart decoder failed: {}", RequestIds.of(ctx), e.toString());
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST,
          "A part of the multipart body has no Content-Disposition header naming it, or unreadable headers"));
    }
  }

  private void onBodyEnd() {
    bodyEnded = true;
    if (failed) {
      return;
    }
    if (!maybeFinish()) {
      // A part still open after the body ended either has buffered bytes on their way to disk (progress goes on)
      // or was never terminated by its boundary (no progress ever again).
      long[] seen = {progress};
      watchdog = vertx.setPeriodic(STALL_MS, id -> {
        if (progress == seen[0]) {
          fail(ApiError.of(ErrorCode.MALFORMED_REQUEST,
              "The multipart body ended inside a part (the closing boundary is missing)"));
        }
        seen[0] = progress;
      });
    }
  }

  private boolean maybeFinish() {
    if (!bodyEnded || failed || files.stream().anyMatch(f -> !f.complete)) {
      return false;
    }
    stopWatchdog();
    if (files.isEmpty() && ctx.request().formAttributes().isEmpty()) {
      // RFC 2046 asks for at least one part; none means the declared boundary never occurred in the body.
      fail(ApiError.of(ErrorCode.MALFORMED_REQUEST,
          "The body holds no part delimited by the boundary its Content-Type declares"));
      return false;
    }
    result.tryComplete(new Result(ctx.request().formAttributes(), List.copyOf(files), vertx));
    return true;
  }

  private void fail(ApiError error) {
    failWith(new ApiException(error));
  }

  private void failWith(Throwable e) {
    if (failed) {
      return;
    }
    failed = true;
    stopWatchdog();
    // Delete first, answer after: once the client has its answer nothing of the request is left on disk. A part
    // still streaming keeps its open file until its upload ends, but nothing more is written to it and its name is
    // already gone.
    List<FilePart> written = List.copyOf(files);
    Future.join(written.stream().map(f -> f.opened.future()).toList())
        .transform(x -> deleteAll(vertx, written))
        .onComplete(x -> result.tryFail(e));
  }

  private void stopWatchdog() {
    if (watchdog >= 0) {
      vertx.cancelTimer(watchdog);
      watchdog = -1;
    }
  }

  static Future<Void> deleteAll(Vertx vertx, List<FilePart> parts) {
    List<Future<Void>> deletes = new ArrayList<>();
    for (FilePart f : parts) {
      deletes.add(vertx.fileSystem().delete(f.path.toString()).otherwiseEmpty());
    }
    return Future.join(deletes).mapEmpty();
  }
}
