package io.osprey.jobs;

import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one export to the client while it is made, so memory stays bounded whatever the job's size: rows come from
 * PostgreSQL a page at a time, a worker thread turns them into about {@link #CHUNK_BYTES} of output (reading the
 * result files), the event loop writes that chunk, and the next one is only made once the response's write queue
 * has room (its drain handler). No thread ever waits on a slow client: between chunks the export is just this
 * object. An export that fits in one chunk goes out whole with its Content-Length, as before; a larger one is sent
 * chunked. A failure within the first chunk answers with the error shape; after it, the connection is reset, so
 * the client sees a cut-off body, never a complete-looking one.
 */
final class ExportStream {
  private static final Logger LOG = LoggerFactory.getLogger(ExportStream.class);
  static final int PAGE_ROWS = 200;
  static final int CHUNK_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final JobRepository jobs;
  private final RoutingContext ctx;
  private final String jobId;
  private final ExportFormat format;
  private final Consumer<HttpServerResponse> headers;

  // Touched by the worker steps and the event loop in turn, never at once: each hand-over is a future completing.
  private final ByteArrayOutputStream sink = new ByteArrayOutputStream(CHUNK_BYTES + CHUNK_BYTES / 4);
  private int pass;
  private boolean begun;
  private List<JobRepository.ResultRow> page = List.of();
  private int next;
  private JobRepository.ResultRow after;
  private boolean lastPage;
  private boolean needPage = true;
  private boolean finished;

  // Event loop only.
  private boolean busy;
  private boolean started;
  private boolean over;
  private boolean abandoned;

  ExportStream(Vertx vertx, JobRepository jobs, RoutingContext ctx, String jobId, ExportFormat format,
               Consumer<HttpServerResponse> headers) {
    this.vertx = vertx;
    this.jobs = jobs;
    this.ctx = ctx;
    this.jobId = jobId;
    this.format = format;
    this.headers = headers;
  }

  void start() {
    // The response ended (by us, or the error shape) or the connection closed: a closed one never drains.
    ctx.addEndHandler(x -> {
      over = true;
      if (!busy) {
        abandon();
      }
    });
    pump();
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
      jobs.results(jobId, after, PAGE_ROWS).onComplete(read -> {
        busy = false;
        if (read.failed()) {
          fail(read.cause());
          return;
        }
        page = read.result();
        next = 0;
        lastPage = page.size() < PAGE_ROWS;
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
        format.row(pass, page.get(next++), sink);
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
   * export smaller than a chunk, or one failing within its first chunk, is answered exactly as before streaming.
   */
  private void send() {
    HttpServerResponse response = ctx.response();
    if (finished) {
      if (!started) {
        headers.accept(response);
      }
      response.end(taken());
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
      LOG.error("rid={} reading results of job {} failed: {}", RequestIds.of(ctx), jobId, e.toString());
      Responses.error(ctx, io.osprey.http.DatabaseErrors.map(e, ApiError.of(ErrorCode.STORAGE_ERROR)));
    } else {
      LOG.error("rid={} results of job {} cut short after their first bytes: {}", RequestIds.of(ctx), jobId,
          e.toString());
      ctx.response().reset();
    }
  }

  private void abandon() {
    if (!abandoned && !finished) {
      abandoned = true;
      format.abandon();
    }
  }
}
