package io.osprey.outbox;

import io.osprey.config.Config;
import io.osprey.storage.Database;
import io.vertx.pgclient.PgConnectOptions;

/**
 * What the outbox reads: whether it drains at all, the drainer's pace, the stream it publishes to (with the
 * stream's retention and message limit) and how to reach the broker's stream port. The drainer, its stream client
 * and the frame watch get this record, never the whole configuration.
 *
 * @param database where the drainer's own leader connection goes (it holds the advisory lock and LISTENs)
 * @param maxImageBytes annotations.max_image_bytes: the largest image a message may have to carry
 */
public record OutboxSettings(boolean enabled, int batchSize, int pollIntervalMs, int maxBackoffMs,
                             int missingImageGraceSeconds, int confirmTimeoutSeconds, Stream stream,
                             Broker broker, long maxImageBytes, PgConnectOptions database) {

  /** The stream: its name, the producer name that deduplicates, its retention and the largest message. */
  public record Stream(String name, String producerName, long maxLengthBytes, int maxAgeHours, int maxMessageBytes) {
  }

  /** The broker's stream endpoint and credentials. */
  public record Broker(String host, int port, String user, String password, String vhost) {

    /** The connection parameters, for a reader that needs only these (the tail command, tests). */
    public static Broker from(Config config) {
      return new Broker(config.string("rabbitmq.stream_host"), config.integer("rabbitmq.stream_port"),
          config.string("rabbitmq.user"), config.string("rabbitmq.password"), config.string("rabbitmq.vhost"));
    }
  }

  public static OutboxSettings from(Config config) {
    return new OutboxSettings(config.bool("outbox.enabled"), config.integer("outbox.batch_size"),
        config.integer("outbox.poll_interval_ms"), config.integer("outbox.max_backoff_ms"),
        config.integer("outbox.missing_image_grace_seconds"), config.integer("outbox.confirm_timeout_seconds"),
        new Stream(config.string("stream.name"), config.string("stream.producer_name"),
            config.longValue("stream.max_length_bytes"), config.integer("stream.max_age_hours"),
            config.integer("stream.max_message_bytes")),
        Broker.from(config), config.longValue("annotations.max_image_bytes"), Database.connectOptions(config));
  }

  public String streamName() {
    return stream.name();
  }
}
