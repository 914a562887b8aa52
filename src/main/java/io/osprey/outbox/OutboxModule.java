package io.osprey.outbox;

import io.micrometer.core.instrument.MeterRegistry;
import io.osprey.annotations.PathResolver;
import io.osprey.health.Readiness;
import io.osprey.module.OspreyModule;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;

/**
 * The annotation outbox of the API role: drains committed annotation changes into the RabbitMQ stream (when
 * outbox.enabled), with a readiness check that is up while publishing works.
 */
public final class OutboxModule implements OspreyModule {
  private final OutboxSettings settings;
  private final Readiness readiness;
  private final OutboxVerticle drainer;

  public OutboxModule(OutboxSettings settings, Pool pool, PathResolver paths, MeterRegistry registry,
                      Readiness readiness) {
    this.settings = settings;
    this.readiness = readiness;
    this.drainer = settings.enabled()
        ? new OutboxVerticle(settings, new OutboxRepository(pool), paths, registry) : null;
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    if (drainer == null) {
      return Future.succeededFuture();
    }
    // Up while publishing works; its data also says whether large images go out without their bytes.
    readiness.addCheck("outbox", () -> drainer.lastError() == null ? Future.succeededFuture()
            : Future.failedFuture("publishing to the stream fails: " + drainer.lastError()),
        "annotation_outbox -> stream " + settings.streamName(), () -> drainer.frames().readiness());
    return vertx.deployVerticle(drainer).mapEmpty();
  }

  /** The drainer (null when outbox.enabled is false). */
  public OutboxVerticle drainer() {
    return drainer;
  }
}
