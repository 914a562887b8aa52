package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one export to the client while it is made, so memory stays bounded whatever its size: rows come a page at a
 * time ({@link Pages}), a worker thread turns them into about {@link #CHUNK_BYTES} of output ({@link Format}, which
 * may read files), the event loop writes that chunk, and the next one is only made once the response's write queue
 * has room (its drain handler). No thread ever waits on a slow client: between chunks the export is just this
 * object. An export that fits in one chunk goes out whole with its Content-Length; a larger one is sent chunked. A
 * failure within the first chunk answers with the error shape; after it, the connection is reset, so the client
 * sees a cut-off body, never a complete-looking one.
 *
 * @param <R> a row; the last row of a page is what the next page starts after
 */
public final class PagedExport<R> {
  private static final Logger LOG = LoggerFactory.getLogger(PagedExport.class);
  public static final int CHUNK_BYTES = 64 * 1024;

  /** The rows after {@code after} (null: from the first), at most {@code limit}, in the same order every pass. */
  public interface Pages<R> {
    Future<List<R>> next(R after, int limit);
  }

  /**
   * A format written row by row: what comes before the rows, each row, and what comes after. A format that must
   * know something about every row first reads the rows more than once ({@link #passes()}). Every method may block:
   * they are called on a worker thread, one at a time, always with the same {@code out}.
   */
  public interface Format<R> {
    /** How many times the rows are read, in the same order each time. */
    default int passes() {
      return 1;
    }

    void begin(int pass, OutputStream out) throws IOException;

    /**
     * Writes (part of) one row; false asks to be called again with the same row once this output is sent, so a row
     * that carries a large file is written a piece at a time rather than held whole.
     */
    boolean row(int pass, R row, OutputStream out) throws IOException;

    void end(OutputStream out) throws IOException;

    /** Frees what an export that will not finish holds. */
    default void abandon() {
    }
  }

  private final Vertx vertx;
  private final RoutingContext ctx;
  private final int pageRows;
  private final Pages<R> pages;
  private final Format<R> format;
  private final Consumer<HttpServerResponse> headers;
  private final String what;
  private final Promise<Void> ended = Promise.promise();

  // Touched by the worker steps and the event loop in turn, never at once: each hand-over is a future completing.
  private final ByteArrayOutputStream sink = new ByteArrayOutputStream(CHUNK_BYTES + CHUNK_BYTES / 4);
  private int pass;
  private boolean begun;
  private List<R> page = List.of();
  private int next;
  private R after;
  private boolean lastPage;
  private boolean needPage = true;
  private boolean finished;

  // Event loop only.
  private boolean busy;
  private boolean started;
  private boolean over;
  private boolean abandoned;

  /** {@code what} names the export in log lines ("results of job X"). */
  public PagedExport(Vertx vertx, RoutingContext ctx, int pageRows, Pages<R> pages, Format<R> format,
                     Consumer<HttpServerResponse> headers, String what) {
    this.vertx = vertx;
    this.ctx = ctx;
    this.pageRows = pageRows;
    this.pages = pages;
    this.format = format;
    this.headers = headers;
    this.what = what;
  }

  /** Starts sending; the future completes once the export is over (sent, failed or abandoned by the client). */
  public Future<Void> start() {
    // The response ended (by us, or the error shape) or the connection closed: a closed one never drains.
    ctx.addEndHandler(x -> {
      over = true;
      if (!busy) {
        abandon();
      }
    });
    pump();
    return ended.future();
  }

  private void pump() {
    if (busy) {
      return;
    }
    if (over || ctx.response().closed()) {
      abandon();
      return;
    }
    busy = true;
    if (needPage) {
      pages.next(after, pageRows).onComplete(read -> {
        busy = false;
        if (read.failed()) {
          fail(read.cause());
          return;
        }
        page = read.result();
        next = 0;
        lastPage = page.size() < pageRows;
        after = page.isEmpty() ? after : page.get(page.size() - 1);
        needPage = false;
        pump();
      });
      return;
    }
    vertx.executeBlocking(this::step, false).onComplete(made -> {
      busy = false;
      if (made.failed()) {
        fail(made.cause());
      } else if (over || ctx.response().closed()) {
        abandon();
      } else {
        send();
      }
    });
  }

  /** On a worker thread: adds to the output from the rows at hand until a chunk is full or more rows are needed. */
  private Void step() throws IOException {
    while (sink.size() < CHUNK_BYTES) {
      if (!begun) {
        format.begin(pass, sink);
        begun = true;
      } else if (next < page.size()) {
        if (format.row(pass, page.get(next), sink)) {
          next++;
        }
      } else if (!lastPage) {
        needPage = true;
        break;
      } else if (++pass < format.passes()) {
        begun = false;
        after = null;
        needPage = true;
        break;
      } else {
        format.end(sink);
        finished = true;
        break;
      }
    }
    return null;
  }

  /**
   * Sends what the steps made once it fills a chunk (or the export is done); less waits for the next rows, so an
   * export smaller than a chunk, or one failing within its first chunk, is answered whole.
   */
  private void send() {
    HttpServerResponse response = ctx.response();
    if (finished) {
      if (!started) {
        headers.accept(response);
      }
      response.end(taken());
      ended.tryComplete();
      return;
    }
    if (sink.size() >= CHUNK_BYTES) {
      if (!started) {
        started = true;
        headers.accept(response);
        response.setChunked(true);
      }
      response.write(taken());
    }
    if (response.writeQueueFull()) {
      response.drainHandler(v -> {
        response.drainHandler(null);
        pump();
      });
    } else {
      pump();
    }
  }

  private Buffer taken() {
    Buffer chunk = Buffer.buffer(sink.toByteArray());
    sink.reset();
    return chunk;
  }

  private void fail(Throwable e) {
    abandon();
    if (over) {
      return;
    }
    if (!started) {
      LOG.error("rid={} reading {} failed: {}", RequestIds.of(ctx), what, e.toString());
      Responses.error(ctx, DatabaseErrors.map(e, ApiError.of(ErrorCode.STORAGE_ERROR)));
    } else {
      LOG.error("rid={} {} cut short after their first bytes: {}", RequestIds.of(ctx), what, e.toString());
      ctx.response().reset();
    }
  }

  private void abandon() {
    if (!abandoned && !finished) {
      abandoned = true;
      format.abandon();
    }
    ended.tryComplete();
  }
}
