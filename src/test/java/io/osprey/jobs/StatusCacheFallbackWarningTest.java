package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.osprey.testing.UnitTest;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import java.net.ServerSocket;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Issue 15 item 8: when Redis cannot be read, status reads fall back to PostgreSQL and say so, but at most once per
 * {@link StatusCache#WARN_EVERY_MS}: an outage under steady polling must not flood the log.
 */
@UnitTest
class StatusCacheFallbackWarningTest {
  @Test
  void manyFallbackReadsDuringARedisOutageLogOneWarning() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    Logger logger = (Logger) LoggerFactory.getLogger(StatusCache.class);
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.start();
    logger.addAppender(appender);
    Vertx vertx = Vertx.vertx();
    try {
      // A real Redis client pointed at a port nobody listens on: every read fails like during a Redis outage.
      Redis redis = Redis.createClient(vertx, new RedisOptions().setConnectionString("redis://127.0.0.1:"
          + closedPort));
      StatusCache cache = new StatusCache(redis, "t:", 60);
      for (int i = 0; i < 20; i++) {
        assertNull(cache.get(UUID.randomUUID().toString()).toCompletionStage().toCompletableFuture()
            .get(10, TimeUnit.SECONDS));
      }
      List<ILoggingEvent> warnings = appender.list.stream().filter(e -> e.getLevel() == Level.WARN).toList();
      assertEquals(1, warnings.size(), warnings.toString());
      assertTrue(warnings.get(0).getFormattedMessage().contains("fall back to PostgreSQL"),
          warnings.get(0).getFormattedMessage());
    } finally {
      logger.detachAppender(appender);
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
