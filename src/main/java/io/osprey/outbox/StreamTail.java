package io.osprey.outbox;

import com.rabbitmq.stream.Consumer;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.OffsetSpecification;
import io.osprey.config.Config;
import io.osprey.config.ConfigLoader;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code osprey stream tail}: prints the annotation stream's messages decoded, one JSON line each, for operators.
 * Reads the same configuration as the service (conf/osprey.json, OSPREY_CONFIG, OSPREY_* variables).
 * <pre>java -cp target/osprey.jar io.osprey.outbox.StreamTail [--from first|last|next|OFFSET] [--limit N]
 *     [--idle-seconds S] [--with-images]</pre>
 * Image bytes are shown as their size unless {@code --with-images} is given.
 */
public final class StreamTail {
  private StreamTail() {
  }

  public static void main(String[] args) throws Exception {
    String from = "next";
    long limit = Long.MAX_VALUE;
    long idleSeconds = 0;
    boolean images = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--from" -> from = args[++i];
        case "--limit" -> limit = Long.parseLong(args[++i]);
        case "--idle-seconds" -> idleSeconds = Long.parseLong(args[++i]);
        case "--with-images" -> images = true;
        case "-h", "--help" -> {
          System.out.println("usage: StreamTail [--from first|last|next|OFFSET] [--limit N] [--idle-seconds S]"
              + " [--with-images]");
          return;
        }
        default -> {
          System.err.println("unknown argument " + args[i]);
          System.exit(64);
        }
      }
    }
    Config config = ConfigLoader.load(System.getenv());
    OffsetSpecification offset = switch (from) {
      case "first" -> OffsetSpecification.first();
      case "last" -> OffsetSpecification.last();
      case "next" -> OffsetSpecification.next();
      default -> OffsetSpecification.offset(Long.parseLong(from));
    };
    long max = limit;
    boolean withImages = images;
    CountDownLatch done = new CountDownLatch(1);
    AtomicLong seen = new AtomicLong();
    AtomicLong last = new AtomicLong(System.nanoTime());
    try (Environment env = StreamPublisher.environment(OutboxSettings.Broker.from(config))) {
      Consumer consumer = env.consumerBuilder().stream(config.string("stream.name")).offset(offset)
          .messageHandler((ctx, m) -> {
            if (seen.get() >= max) {
              return;
            }
            last.set(System.nanoTime());
            JsonObject body = StreamContract.decode(m.getBodyAsBinary(), m.getProperties().getContentEncoding());
            JsonObject image = body.getJsonObject("image");
            if (image != null && !withImages) {
              body.put("image", "<" + image.getInteger("size") + " bytes>");
            }
            System.out.println(new JsonObject().put("offset", ctx.offset()).put("body", body).encode());
            if (seen.incrementAndGet() >= max) {
              done.countDown();
            }
          }).build();
      while (!done.await(200, TimeUnit.MILLISECONDS)) {
        if (idleSeconds > 0 && System.nanoTime() - last.get() > idleSeconds * 1_000_000_000L) {
          break;
        }
      }
      consumer.close();
    }
  }
}
