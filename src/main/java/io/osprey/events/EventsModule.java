package io.osprey.events;

import io.osprey.auth.TokenVerifier;
import io.osprey.jobs.JobRepository;
import io.osprey.module.OspreyModule;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.redis.client.Redis;

/**
 * Live events. Every role writes annotation events to the event log; where the API runs, the hub relays them and
 * job progress to subscribers and the event-stream (SSE) routes serve them.
 */
public final class EventsModule implements OspreyModule {
  private final EventLog log;
  private final EventHub hub;
  private final EventStreams streams;

  /** {@code api}: whether this process serves the event streams (the log is written in every role). */
  public EventsModule(Vertx vertx, EventsSettings settings, boolean api, Redis redis, TokenVerifier verifier,
                      JobRepository jobs) {
    this.log = new EventLog(vertx, redis, settings.keyPrefix(), settings.retentionCount(), settings.outageBuffer());
    if (api) {
      hub = new EventHub(redis, log, settings.keyPrefix());
      streams = new EventStreams(vertx, hub, log, verifier, jobs, settings.heartbeatSeconds(),
          settings.maxBufferBytes(), settings.retryMs());
    } else {
      hub = null;
      streams = null;
    }
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    return hub == null ? Future.succeededFuture() : vertx.deployVerticle(hub).mapEmpty();
  }

  @Override
  public void mount(Router router) {
    if (streams != null) {
      streams.mount(router);
    }
  }

  public EventLog log() {
    return log;
  }

  /** The relay of live events (null where the API does not run). */
  public EventHub hub() {
    return hub;
  }
}
