package io.osprey.module;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;

/**
 * One capability of the service (uploads, jobs, workers, annotations, outbox, events, auth, admin): it deploys its
 * own verticles and timers, mounts its own routes, and is built from its own settings record, never from the whole
 * configuration. The application composes modules by role and knows nothing of what is inside them.
 *
 * <p>{@link #mount} is called once per HTTP verticle instance, each on its own event loop, so whatever a module
 * shares between its routers must be safe to use from several event loops (immutable handlers, thread-safe clients).
 * Readiness checks are registered by each module itself when it deploys.
 */
public interface OspreyModule {

  /** Starts the module's verticles and background work; called once, in composition order. */
  Future<Void> deploy(Vertx vertx);

  /** Adds the module's routes; the order of modules is the order of their routes (auth guards come first). */
  default void mount(Router router) {
  }

  /**
   * Releases what undeploying verticles does not (broker connections, subscriptions, timers); called in reverse
   * composition order, each step bounded by the caller. Verticles are undeployed after every module has stopped.
   */
  default Future<Void> stop() {
    return Future.succeededFuture();
  }
}
