package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.config.Config;
import io.osprey.config.ConfigLoader;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TcpForwarder;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The drainer reaches the broker's stream port through a forwarder that, for a while, passes what the drainer sends
 * and drops what the broker answers: the messages are stored, their confirms are lost. Their fate is unknown to the
 * drainer, so it must re-send them under the same publishing ids (the broker drops them), not as new messages.
 */
@IntegrationTest
class OutboxLostConfirmTest {
  private static final int BEFORE = 10;
  private static final int DURING = 30;

  private static double failures(String base) throws Exception {
    Matcher m = Pattern.compile("(?m)^outbox_publish_failures_total(?:\\{[^}]*})? (\\S+)$")
        .matcher(Http.get(base + "/metrics").body());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  @Test
  void messagesWhoseConfirmsWereLostAreResentUnderTheirIdsAndReachTheStreamOnce() throws Exception {
    Config defaults = ConfigLoader.load(System.getenv());
    try (TcpForwarder forwarder = TcpForwarder.started(defaults.string("rabbitmq.stream_host"),
        defaults.integer("rabbitmq.stream_port"));
         TestService service = TestService.start(OutboxLostConfirmTest.class, Role.API, new JsonObject()
             .put("rabbitmq", new JsonObject().put("stream_host", "127.0.0.1").put("stream_port", forwarder.port()))
             .put("outbox", new JsonObject().put("enabled", true).put("batch_size", 20).put("max_backoff_ms", 500)
                 .put("confirm_timeout_seconds", 2)))) {
      String base = service.baseUrl();
      for (int i = 0; i < BEFORE; i++) {
        OutboxStreamTest.create(base, Fixtures.uniqueJpeg(71_000 + i), "lost-confirms");
      }
      OutboxStreamTest.waitOutboxEmpty(service, 60_000);
      assertEquals(0.0, failures(base), "nothing failed while the way back worked");

      forwarder.muteReplies(true);
      for (int i = 0; i < DURING; i++) {
        OutboxStreamTest.create(base, Fixtures.uniqueJpeg(72_000 + i), "lost-confirms");
      }
      // The broker has some of them (read past the forwarder) although the drainer heard nothing back: those sent
      // on the connection before the drainer gave up on it; it sends the rest only once it connects again.
      Config direct = service.config().with(new JsonObject().put("rabbitmq", new JsonObject()
          .put("stream_host", defaults.string("rabbitmq.stream_host"))
          .put("stream_port", defaults.integer("rabbitmq.stream_port"))));
      int storedUnconfirmed = StreamMessages.read(direct, BEFORE + 1, Duration.ofSeconds(30), Duration.ZERO).size()
          - BEFORE;
      assertTrue(storedUnconfirmed > 0, "the broker stored messages whose confirms were dropped");
      Await.until("the drainer gives up waiting for the confirms", Duration.ofSeconds(30), () -> failures(base) > 0);
      assertTrue(service.count("SELECT count(*) FROM annotation_outbox") > 0, "unconfirmed rows stay in the outbox");

      forwarder.cut();
      forwarder.muteReplies(false);
      OutboxStreamTest.waitOutboxEmpty(service, 60_000);

      List<Received> all = StreamMessages.read(direct, BEFORE + DURING, Duration.ofSeconds(30), Duration.ofSeconds(1));
      Map<Long, Integer> copies = StreamMessages.copiesByOutboxId(all);
      assertEquals(BEFORE + DURING, copies.size(), "every create reached the stream");
      assertEquals(BEFORE + DURING, all.size(), "none twice (" + storedUnconfirmed + " were stored unconfirmed):"
          + " copies per outbox id " + copies);
    }
  }
}
