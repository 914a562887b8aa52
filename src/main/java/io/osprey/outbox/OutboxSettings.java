package io.osprey.outbox;

import io.osprey.config.Config;

/**
 * What the outbox module reads: whether it drains at all and into which stream. The drainer and its stream client
 * still read their own keys (outbox.*, stream.*, rabbitmq.*) from {@code drainer}, the one place left where a part
 * gets the whole configuration.
 */
public record OutboxSettings(boolean enabled, String streamName, Config drainer) {

  public static OutboxSettings from(Config config) {
    return new OutboxSettings(config.bool("outbox.enabled"), config.string("stream.name"), config);
  }
}
