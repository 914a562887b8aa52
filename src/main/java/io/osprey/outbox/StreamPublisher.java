package io.osprey.outbox;

import com.rabbitmq.stream.Address;
import com.rabbitmq.stream.ByteCapacity;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.EnvironmentBuilder;
import com.rabbitmq.stream.Message;
import com.rabbitmq.stream.Producer;
import com.rabbitmq.stream.StreamException;
import io.osprey.config.Config;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection to the stream: declares it with its retention, and publishes through one named producer, which
 * makes the broker drop a message whose publishing id is not above the highest it has seen from that name.
 * Blocking; used from a worker thread of the drainer only.
 */
public final class StreamPublisher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

  private final Environment environment;
  private final Producer producer;
  private final Duration confirmTimeout;

  public StreamPublisher(Config config) {
    this.environment = environment(config);
    try {
      declare(environment, config);
      this.confirmTimeout = Duration.ofSeconds(config.integer("outbox.confirm_timeout_seconds"));
      this.producer = environment.producerBuilder()
          .name(config.string("stream.producer_name"))
          .stream(config.string("stream.name"))
          .confirmTimeout(confirmTimeout)
          .build();
    } catch (RuntimeException e) {
      environment.close();
      throw e;
    }
  }

  /** A stream client environment whose connections go to the configured host and port whatever host the broker
   * advertises (in containers and behind NAT the advertised name is often unreachable from the client). */
  public static Environment environment(Config config) {
    String host = config.string("rabbitmq.stream_host");
    int port = config.integer("rabbitmq.stream_port");
    EnvironmentBuilder b = Environment.builder()
        .host(host)
        .port(port)
        .username(config.string("rabbitmq.user"))
        .password(config.string("rabbitmq.password"))
        .virtualHost(config.string("rabbitmq.vhost"))
        .addressResolver(advertised -> new Address(host, port));
    return b.build();
  }

  /** Creates the stream with the configured retention; an existing stream is used as it is. */
  static void declare(Environment environment, Config config) {
    var creator = environment.streamCreator().stream(config.string("stream.name"));
    long maxBytes = config.longValue("stream.max_length_bytes");
    int maxAgeHours = config.integer("stream.max_age_hours");
    if (maxBytes > 0) {
      creator.maxLengthBytes(ByteCapacity.B(maxBytes));
    }
    if (maxAgeHours > 0) {
      creator.maxAge(Duration.ofHours(maxAgeHours));
    }
    try {
      creator.create();
    } catch (StreamException e) {
      // An existing stream declared with other retention arguments: keep it, and say so.
      LOG.warn("stream {} exists with other settings; using it as it is ({})", config.string("stream.name"),
          e.getMessage());
    }
  }

  public long lastPublishingId() {
    return producer.getLastPublishingId();
  }

  public com.rabbitmq.stream.MessageBuilder messageBuilder() {
    return producer.messageBuilder();
  }

  /**
   * Sends every message and waits for each outcome (at most the confirm timeout plus a margin). Answers one flag
   * per message: confirmed by the broker (a deduplicated re-send counts as confirmed) or not.
   */
  public boolean[] publish(List<Message> messages, LongConsumer confirmNanos) throws InterruptedException {
    AtomicIntegerArray outcome = new AtomicIntegerArray(messages.size());
    CountDownLatch done = new CountDownLatch(messages.size());
    for (int i = 0; i < messages.size(); i++) {
      int index = i;
      long sent = System.nanoTime();
      try {
        producer.send(messages.get(i), status -> {
          outcome.set(index, status.isConfirmed() ? 1 : 2);
          if (status.isConfirmed()) {
            confirmNanos.accept(System.nanoTime() - sent);
          } else {
            LOG.debug("message {} not confirmed: code {}", index, status.getCode());
          }
          done.countDown();
        });
      } catch (RuntimeException e) {
        LOG.warn("stream send failed: {}", e.toString());
        outcome.set(index, 2);
        done.countDown();
      }
    }
    done.await(confirmTimeout.toMillis() + 5000, TimeUnit.MILLISECONDS);
    boolean[] ok = new boolean[messages.size()];
    for (int i = 0; i < ok.length; i++) {
      ok[i] = outcome.get(i) == 1;
    }
    return ok;
  }

  @Override
  public void close() {
    try {
      producer.close();
    } catch (RuntimeException e) {
      LOG.debug("producer close: {}", e.toString());
    }
    try {
      environment.close();
    } catch (RuntimeException e) {
      LOG.debug("environment close: {}", e.toString());
    }
  }
}
