package io.osprey.http;

import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One line per request with its id, so errors reported by users can be found in the logs. */
public final class AccessLog implements Handler<RoutingContext> {
  private static final Logger LOG = LoggerFactory.getLogger("osprey.access");

  @Override
  public void handle(RoutingContext ctx) {
    long start = System.nanoTime();
    ctx.addEndHandler(done -> {
      if (ctx.request().path().startsWith("/health") || ctx.request().path().equals("/metrics")) {
        return;
      }
      LOG.info("rid={} {} {} {} {}ms{}", RequestIds.of(ctx), ctx.request().method(), ctx.request().path(),
          ctx.response().getStatusCode(), (System.nanoTime() - start) / 1_000_000,
          done.succeeded() ? "" : " (connection closed: " + done.cause().getMessage() + ")");
    });
    ctx.next();
  }
}
