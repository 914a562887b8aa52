package io.osprey.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Handler;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.RoutingContext;
import java.util.concurrent.TimeUnit;

/**
 * The spec's {@code api_requests_total{method,endpoint}} counter (plus status) and a latency histogram, labelled by
 * route template rather than raw path so ids in URLs cannot explode the series count.
 */
public final class ApiMetrics implements Handler<RoutingContext> {
  private final MeterRegistry registry;

  public ApiMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  @Override
  public void handle(RoutingContext ctx) {
    long start = System.nanoTime();
    ctx.addEndHandler(done -> {
      Route route = ctx.currentRoute();
      String endpoint = route != null && route.getPath() != null ? route.getPath() : "unmatched";
      String method = ctx.request().method().name();
      String status = Integer.toString(ctx.response().getStatusCode());
      Counter.builder("api_requests_total")
          .description("HTTP API requests")
          .tag("method", method).tag("endpoint", endpoint).tag("status", status)
          .register(registry).increment();
      Timer.builder("api_request_duration_seconds")
          .description("HTTP API request latency")
          .tag("method", method).tag("endpoint", endpoint)
          .publishPercentileHistogram()
          .register(registry).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    });
    ctx.next();
  }
}
