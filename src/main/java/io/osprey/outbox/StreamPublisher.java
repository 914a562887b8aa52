package io.osprey.outbox;

import com.rabbitmq.stream.Address;
import com.rabbitmq.stream.ByteCapacity;
import com.rabbitmq.stream.ConfirmationStatus;
import com.rabbitmq.stream.Constants;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.EnvironmentBuilder;
import com.rabbitmq.stream.Message;
import com.rabbitmq.stream.Producer;
import com.rabbitmq.stream.Resource;
import com.rabbitmq.stream.StreamException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection to the stream: declares it with its retention, and publishes through one named producer, which
 * makes the broker drop a message whose publishing id is not above the highest it has seen from that name.
 * Blocking; used from a worker thread of the drainer only.
 *
 * <p>One publisher lives for one connection. Once its producer loses the connection (leaves {@code OPEN}) nothing
 * more is sent through it, and the client does not re-send what was unconfirmed when it recovers: the drainer
 * re-sends such messages itself, under their publishing ids, on a new publisher. A later id sent on a recovered
 * connection before an earlier, unconfirmed one would make the broker drop the earlier one if it never arrived.
 */
public final class StreamPublisher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

  private final Environment environment;
  private final Producer producer;
  private final Duration confirmTimeout;
  /** Set once the producer leaves OPEN (the connection was lost, or it is closing): never cleared. */
  private volatile boolean broken;

  public StreamPublisher(OutboxSettings settings, StreamFrames frames) {
    this.environment = environment(settings.broker(), frames);
    try {
      declare(environment, settings.stream());
      this.confirmTimeout = Duration.ofSeconds(settings.confirmTimeoutSeconds());
      this.producer = environment.producerBuilder()
          .name(settings.stream().producerName())
          .stream(settings.streamName())
          .confirmTimeout(confirmTimeout)
          .retryOnRecovery(false)
          .listeners(this::stateChanged)
          .build();
    } catch (RuntimeException e) {
      environment.close();
      throw e;
    }
  }

  /**
   * A stream client environment for readers (consumers, the tail command): it accepts the broker's frame size (0
   * asks for no limit, and the agreed value is then the broker's stream.frame_max), because a delivery frame holds a
   * whole chunk, and a chunk may hold several large messages.
   */
  public static Environment environment(OutboxSettings.Broker broker) {
    return builder(broker).requestedMaxFrameSize(0).build();
  }

  /**
   * The publisher's environment: it requests the frame size that {@code stream.max_message_bytes} needs (the
   * client's own default is 1 MiB) and lets {@code frames} watch what each connection agrees.
   */
  static Environment environment(OutboxSettings.Broker broker, StreamFrames frames) {
    return builder(broker).requestedMaxFrameSize(frames.requestedFrameMax())
        .netty().channelCustomizer(frames.channelCustomizer()).environmentBuilder()
        .build();
  }

  /** Connections go to the configured host and port whatever host the broker advertises (in containers and behind
   * NAT the advertised name is often unreachable from the client). */
  private static EnvironmentBuilder builder(OutboxSettings.Broker broker) {
    String host = broker.host();
    int port = broker.port();
    return Environment.builder()
        .host(host)
        .port(port)
        .username(broker.user())
        .password(broker.password())
        .virtualHost(broker.vhost())
        .addressResolver(advertised -> new Address(host, port));
  }

  /**
   * Connects once and closes, so that {@code frames} learns what the broker agrees before anything is published
   * (every instance logs it at start, not only the one that publishes).
   */
  static void probe(OutboxSettings settings, StreamFrames frames) {
    try (Environment probe = environment(settings.broker(), frames)) {
      // building the environment opened its first connection, and with it the Tune exchange
    }
  }

  /** Creates the stream with the configured retention; an existing stream is used as it is. */
  static void declare(Environment environment, OutboxSettings.Stream stream) {
    var creator = environment.streamCreator().stream(stream.name());
    long maxBytes = stream.maxLengthBytes();
    int maxAgeHours = stream.maxAgeHours();
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
      LOG.warn("stream {} exists with other settings; using it as it is ({})", stream.name(),
          e.getMessage());
    }
  }

  private void stateChanged(Resource.Context change) {
    Resource.State state = change.currentState();
    if (state == Resource.State.RECOVERING || state == Resource.State.CLOSING || state == Resource.State.CLOSED) {
      if (!broken) {
        LOG.info("stream producer {} -> {}: this publisher sends nothing more", change.previousState(), state);
      }
      broken = true;
    }
  }

  /** Whether this publisher's producer still has the connection it started with. */
  public boolean usable() {
    return !broken;
  }

  public long lastPublishingId() {
    return producer.getLastPublishingId();
  }

  public com.rabbitmq.stream.MessageBuilder messageBuilder() {
    return producer.messageBuilder();
  }

  /** How long to wait for a batch's outcomes at most: the confirm timeout, plus a margin for the client's own. */
  public Duration outcomeDeadline() {
    return confirmTimeout.plusSeconds(5);
  }

  /** What became of one message. */
  public enum Outcome {
    /** The broker has it (a deduplicated re-send is confirmed too). */
    CONFIRMED,
    /**
     * It certainly did not reach the stream: it was never handed to a connection (the producer was recovering, or
     * the client could not enqueue it), or the broker refused it. It may be sent again under a new publishing id.
     */
    NOT_SENT,
    /**
     * It was written to a connection and no confirm came back (the connection was lost, the producer closed, the
     * confirm timed out): the broker may have it. Only a re-send under the same publishing id is safe.
     */
    UNKNOWN;

    /** The outcome a confirmation status means. */
    static Outcome of(ConfirmationStatus status) {
      return status.isConfirmed() ? CONFIRMED : ofCode(status.getCode());
    }

    /** Codes below 10,000 are the broker's own refusals; the client's codes say whether the message left. */
    static Outcome ofCode(short code) {
      return switch (code) {
        case Constants.CODE_MESSAGE_ENQUEUEING_FAILED, Constants.CODE_PRODUCER_NOT_AVAILABLE,
            Constants.CODE_NO_ROUTE_FOUND -> NOT_SENT;
        case Constants.CODE_PRODUCER_CLOSED, Constants.CODE_PUBLISH_CONFIRM_TIMEOUT -> UNKNOWN;
        default -> code > 0 && code < 10_000 ? NOT_SENT : UNKNOWN;
      };
    }
  }

  /** The outcomes of one batch as they arrive; the first outcome of a message is the one that counts. */
  public static final class Outcomes {
    private static final Outcome[] VALUES = Outcome.values();
    /** 0 while pending, else the outcome's ordinal + 1. */
    private final AtomicIntegerArray outcome;
    private final AtomicInteger left;
    private final Consumer<Outcomes> whenAll;

    private Outcomes(int size, Consumer<Outcomes> whenAll) {
      this.outcome = new AtomicIntegerArray(size);
      this.left = new AtomicInteger(size);
      this.whenAll = whenAll;
    }

    private void set(int index, Outcome value) {
      if (outcome.compareAndSet(index, 0, value.ordinal() + 1) && left.decrementAndGet() == 0) {
        whenAll.accept(this);
      }
    }

    /** One outcome per message; a message still waiting for its confirm counts as {@link Outcome#UNKNOWN}. */
    public Outcome[] outcomes() {
      Outcome[] out = new Outcome[outcome.length()];
      for (int i = 0; i < out.length; i++) {
        int v = outcome.get(i);
        out[i] = v == 0 ? Outcome.UNKNOWN : VALUES[v - 1];
      }
      return out;
    }

    /** One flag per message: confirmed, or not (not sent, or not known). */
    public boolean[] confirmed() {
      boolean[] ok = new boolean[outcome.length()];
      for (int i = 0; i < ok.length; i++) {
        ok[i] = outcome.get(i) == Outcome.CONFIRMED.ordinal() + 1;
      }
      return ok;
    }
  }

  /**
   * Sends every message, in this order, without waiting for the broker: {@code whenAll} runs (on a client thread,
   * or on this one when a send fails at once) once each message has its outcome. Sends of a later call follow those of an earlier one, so publishing
   * ids reach the broker in the order they were given. Blocks only while the client's window of unconfirmed
   * messages is full.
   */
  public Outcomes send(List<Message> messages, LongConsumer confirmNanos, Consumer<Outcomes> whenAll) {
    Outcomes outcomes = new Outcomes(messages.size(), whenAll);
    if (messages.isEmpty()) {
      whenAll.accept(outcomes);
      return outcomes;
    }
    for (int i = 0; i < messages.size(); i++) {
      int index = i;
      if (broken) {
        // Not handed to the client: whatever this producer does next, it happens on another connection.
        outcomes.set(index, Outcome.NOT_SENT);
        continue;
      }
      long sent = System.nanoTime();
      try {
        producer.send(messages.get(i), status -> {
          Outcome o = Outcome.of(status);
          if (o == Outcome.CONFIRMED) {
            confirmNanos.accept(System.nanoTime() - sent);
          } else {
            LOG.debug("message {} not confirmed: code {} ({})", index, status.getCode(), o);
          }
          outcomes.set(index, o);
        });
      } catch (RuntimeException e) {
        // Thrown before the message was enqueued (a closed producer, for instance).
        LOG.warn("stream send failed: {}", e.toString());
        outcomes.set(index, Outcome.NOT_SENT);
      }
    }
    return outcomes;
  }

  /**
   * Sends every message and waits for each outcome (at most the confirm timeout plus a margin). Answers one flag
   * per message: confirmed by the broker (a deduplicated re-send counts as confirmed) or not.
   */
  public boolean[] publish(List<Message> messages, LongConsumer confirmNanos) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    Outcomes outcomes = send(messages, confirmNanos, all -> done.countDown());
    done.await(outcomeDeadline().toMillis(), TimeUnit.MILLISECONDS);
    return outcomes.confirmed();
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
