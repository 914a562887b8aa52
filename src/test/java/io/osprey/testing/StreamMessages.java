package io.osprey.testing;

import com.rabbitmq.stream.Consumer;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.OffsetSpecification;
import io.osprey.config.Config;
import io.osprey.outbox.StreamContract;
import io.osprey.outbox.StreamPublisher;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Reads a test's stream from its first message with the real stream client, decoding every body. */
public final class StreamMessages {
  private StreamMessages() {
  }

  /** One message as a consumer sees it. */
  public record Received(JsonObject body, Map<String, Object> properties, Object messageId, long offset) {
  }

  /**
   * Every message from the start of the stream, waiting until at least {@code atLeast} arrived (or the timeout),
   * then {@code settle} longer so duplicates would show.
   */
  public static List<Received> read(Config config, int atLeast, Duration timeout, Duration settle)
      throws InterruptedException {
    List<Received> out = new ArrayList<>();
    try (Environment env = StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(config))) {
      Consumer consumer = env.consumerBuilder().stream(config.string("stream.name"))
          .offset(OffsetSpecification.first())
          .messageHandler((ctx, m) -> {
            JsonObject body = StreamContract.decode(m.getBodyAsBinary(), m.getProperties().getContentEncoding());
            synchronized (out) {
              out.add(new Received(body, m.getApplicationProperties(), m.getProperties().getMessageId(),
                  ctx.offset()));
            }
          }).build();
      long end = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < end) {
        synchronized (out) {
          if (out.size() >= atLeast) {
            break;
          }
        }
        Thread.sleep(50);
      }
      Thread.sleep(settle.toMillis());
      consumer.close();
    }
    synchronized (out) {
      return new ArrayList<>(out);
    }
  }

  /** How many times each outbox id arrived (exactly-once checks: every id once). */
  public static Map<Long, Integer> copiesByOutboxId(List<Received> messages) {
    Map<Long, Integer> copies = new java.util.TreeMap<>();
    messages.forEach(r -> copies.merge(r.body().getLong("outboxId"), 1, Integer::sum));
    return copies;
  }
}
