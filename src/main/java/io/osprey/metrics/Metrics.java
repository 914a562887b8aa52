package io.osprey.metrics;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;

/**
 * One Prometheus registry per running service. It is not the global registry, so two services in one JVM (tests)
 * keep separate numbers.
 */
public final class Metrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Vert.x's own HTTP server/client, pool and event-bus metrics go into the same registry. */
  public VertxBuilder install(VertxBuilder builder, VertxOptions options) {
    MicrometerMetricsOptions metricsOptions = new MicrometerMetricsOptions()
        .setEnabled(true)
        .setJvmMetricsEnabled(true)
        .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true))
        .addLabels(Label.HTTP_METHOD, Label.HTTP_CODE, Label.HTTP_ROUTE);
    return builder.with(options.setMetricsOptions(metricsOptions)).withMetrics(new MicrometerMetricsFactory(registry));
  }
}
