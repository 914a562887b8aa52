package io.osprey.annotations;

import io.vertx.pgclient.PgConnectOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.pubsub.PgSubscriber;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cross-instance cache resets through PostgreSQL LISTEN/NOTIFY: a change NOTIFYs inside its own transaction (so
 * the message goes out exactly when the change is visible) and every instance, the writer included, drops the
 * named cache. After a lost connection every cache is dropped, since notifications may have been missed.
 */
public final class CacheInvalidation {
  private static final Logger LOG = LoggerFactory.getLogger(CacheInvalidation.class);
  static final String CHANNEL = "osprey_cache";

  private final PgSubscriber subscriber;
  private final Map<String, Runnable> resets;

  /** {@code database}: where to LISTEN (the service's own database). */
  public CacheInvalidation(Vertx vertx, PgConnectOptions database, Map<String, Runnable> resets) {
    this.resets = resets;
    this.subscriber = PgSubscriber.subscriber(vertx, database)
        .reconnectPolicy(retries -> 1000L);
    subscriber.channel(CHANNEL).handler(payload -> {
      Runnable reset = resets.get(payload);
      if (reset != null) {
        LOG.debug("cache '{}' reset by notification", payload);
        reset.run();
      }
    }).subscribeHandler(v -> resets.values().forEach(Runnable::run));
  }

  public Future<Void> start() {
    return subscriber.connect();
  }

  public Future<Void> close() {
    return subscriber.close();
  }

  static Future<Void> notify(SqlClient tx, String cache) {
    return tx.preparedQuery("SELECT pg_notify($1, $2)").execute(Tuple.of(CHANNEL, cache)).mapEmpty();
  }
}
