package io.osprey.http;

import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per request with its id, so errors reported by users can be found in the logs. It is written when the
 * response has ended or the connection closed, with the status really sent; a request whose connection closed before
 * any status line was written is logged as {@code closed-without-response}, never as the default 200.
 */
public final class AccessLog implements Handler<RoutingContext> {
  private static final Logger LOG = LoggerFactory.getLogger("osprey.access");

  @Override
  public void handle(RoutingContext ctx) {
    long start = System.nanoTime();
    boolean[] logged = {false};
    // The body-end handler runs when the last byte of the response was handed to the connection: the status then
    // is the status sent. The end handler also runs (failed) when the request or response only reported an error,
    // for instance a malformed multipart body, while an answer is still to come: that is logged only when the
    // connection really closed.
    ctx.addBodyEndHandler(v -> {
      if (!logged[0]) {
        logged[0] = true;
        // A response ended on a connection already closed (a body Vert.x could not decode, such as a bad chunk
        // size, fails the connection) was never delivered.
        // Vert.x Web also ends a request that failed with no status of its own (a connection failed by the HTTP
        // layer, such as for a bad chunk size) with a bare 200 that never reaches anyone.
        boolean undelivered = ctx.response().closed() || ctx.failed() && ctx.response().getStatusCode() < 400;
        log(ctx, start, undelivered ? new IllegalStateException("connection failed"
            + (ctx.failure() == null ? "" : ": " + ctx.failure()), ctx.failure()) : null);
      }
    });
    ctx.addEndHandler(done -> {
      if (done.failed() && !logged[0]) {
        if (ctx.response().closed() && !ctx.response().ended()) {
          logged[0] = true;
          log(ctx, start, done.cause());
        } else {
          // An error with the connection still open: the route answers it; should it not, say so in 5 s.
          ctx.vertx().setTimer(5000, t -> {
            if (!logged[0]) {
              logged[0] = true;
              log(ctx, start, done.cause());
            }
          });
        }
      }
    });
    ctx.next();
  }

  private static void log(RoutingContext ctx, long start, Throwable problem) {
    if (ctx.request().path().startsWith("/health") || ctx.request().path().equals("/metrics")) {
      return;
    }
    long ms = (System.nanoTime() - start) / 1_000_000;
    int status = ctx.response().getStatusCode();
    boolean bareEnd = ctx.failed() && status < 400;
    if (problem == null) {
      LOG.info("rid={} {} {} {} {}ms", RequestIds.of(ctx), ctx.request().method(), ctx.request().path(), status, ms);
    } else if (ctx.response().headWritten() && !bareEnd) {
      LOG.info("rid={} {} {} {} {}ms (connection closed before the response ended: {})", RequestIds.of(ctx),
          ctx.request().method(), ctx.request().path(), status, ms, problem.getMessage());
    } else if (ctx.response().closed() || bareEnd) {
      LOG.info("rid={} {} {} closed-without-response {}ms ({})", RequestIds.of(ctx), ctx.request().method(),
          ctx.request().path(), ms, problem.getMessage());
    } else {
      LOG.warn("rid={} {} {} no-response-yet {}ms after an error ({})", RequestIds.of(ctx), ctx.request().method(),
          ctx.request().path(), ms, problem.getMessage());
    }
  }
}
