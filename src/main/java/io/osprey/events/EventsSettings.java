package io.osprey.events;

import io.osprey.config.Config;

/** What the events module reads: the event log's size and outage buffer, and the SSE connection settings. */
public record EventsSettings(String keyPrefix, int retentionCount, int outageBuffer, int heartbeatSeconds,
                             int maxBufferBytes, int retryMs) {

  public static EventsSettings from(Config config) {
    return new EventsSettings(config.string("redis.key_prefix"), config.integer("events.retention_count"),
        config.integer("events.outage_buffer"), config.integer("events.heartbeat_seconds"),
        config.integer("events.max_buffer_bytes"), config.integer("events.retry_ms"));
  }
}
