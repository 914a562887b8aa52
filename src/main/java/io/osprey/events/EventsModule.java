package io.osprey.events;

import io.osprey.auth.TokenVerifier;
import io.osprey.module.OspreyModule;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.redis.client.Redis;

/**
 * Live events. Every role runs the event-log writer (annotation events reach it over the local bus, from workers
 * too); where the API runs, the hub relays events between processes and the event-stream (SSE) routes serve them,
 * reading job status and annotation states through the interfaces they are given.
 */
public final class EventsModule implements OspreyModule {
  private final EventLogWriter writer;
  private final EventHub hub;
  private final EventStreams streams;

  /** {@code api}: whether this process serves the event streams (the log is written in every role). */
  public EventsModule(Vertx vertx, EventsSettings settings, boolean api, Redis redis, TokenVerifier verifier,
                      JobStatusReader jobs, AnnotationStatuses statuses) {
    this.writer = new EventLogWriter(redis, settings.keyPrefix(), settings.retentionCount(), settings.outageBuffer());
    if (api) {
      EventLog log = new EventLog(redis, settings.keyPrefix());
      hub = new EventHub(redis, log, settings.keyPrefix());
      streams = new EventStreams(vertx, log, verifier, jobs, statuses, settings.heartbeatSeconds(),
          settings.maxBufferBytes(), settings.retryMs());
    } else {
      hub = null;
      streams = null;
    }
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    Future<?> writing = vertx.deployVerticle(writer);
    return (hub == null ? writing : writing.compose(x -> vertx.deployVerticle(hub))).mapEmpty();
  }

  @Override
  public void mount(Router router) {
    if (streams != null) {
      streams.mount(router);
    }
  }

  /** The relay of live events (null where the API does not run). */
  public EventHub hub() {
    return hub;
  }

  /** The event-stream routes, shared by every HTTP instance (null where the API does not run). */
  public EventStreams streams() {
    return streams;
  }
}
