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
    ctx.addEndHandler(done -> {
      if (ctx.request().path().startsWith("/health") || ctx.request().path().equals("/metrics")) {
        return;
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      if (done.succeeded()) {
        LOG.info("rid={} {} {} {} {}ms", RequestIds.of(ctx), ctx.request().method(), ctx.request().path(),
            ctx.response().getStatusCode(), ms);
      } else if (ctx.response().headWritten()) {
        LOG.info("rid={} {} {} {} {}ms (connection closed before the response ended: {})", RequestIds.of(ctx),
            ctx.request().method(), ctx.request().path(), ctx.response().getStatusCode(), ms,
            done.cause().getMessage());
      } else {
        LOG.info("rid={} {} {} closed-without-response {}ms ({})", RequestIds.of(ctx), ctx.request().method(),
            ctx.request().path(), ms, done.cause().getMessage());
      }
    });
    ctx.next();
  }
}
