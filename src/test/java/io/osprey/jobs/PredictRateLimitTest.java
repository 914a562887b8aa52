package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The predict rate limit: one budget per token subject, one per client address for callers without a token, and
 * still enforced (in process, per instance) while Redis is unreachable. Requests carry an empty JSON object: the
 * limit is applied before validation, so each one within the limit is a 400 INVALID_CONFIG and creates nothing.
 * Other client addresses come from binding the client socket to 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback
 * on Linux).
 */
@IntegrationTest
class PredictRateLimitTest {
  private static final int LIMIT = 3;
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(PredictRateLimitTest.class, Role.API,
        new JsonObject().put("jobs", new JsonObject().put("rate_limit_per_minute", LIMIT)));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /** The limit counts in one-minute windows: start each test early in a window so it cannot turn mid-test. */
  @BeforeEach
  void awaitFreshWindow() throws Exception {
    Await.until("the first 40 s of a minute", Duration.ofSeconds(25),
        () -> System.currentTimeMillis() % 60_000 <= 40_000);
  }

  private static int predict(OspreyApp app, String token) throws Exception {
    return Http.json("POST", "http://127.0.0.1:" + app.port() + "/api/v1/inference/predict", token,
        new JsonObject()).status();
  }

  /** {@code limit + 1} requests: the statuses in order. */
  private static List<Integer> burst(OspreyApp app, String token) throws Exception {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i <= LIMIT; i++) {
      out.add(predict(app, token));
    }
    return out;
  }

  private static final List<Integer> LIMITED = List.of(400, 400, 400, 429);

  /** A predict request sent from {@code localAddress}, over a plain socket (the JDK client cannot bind one). */
  private static int predictFrom(OspreyApp app, String localAddress, String forwardedFor) throws Exception {
    try (Socket socket = new Socket()) {
      socket.bind(new InetSocketAddress(InetAddress.getByName(localAddress), 0));
      socket.connect(new InetSocketAddress("127.0.0.1", app.port()), 5000);
      socket.setSoTimeout(10_000);
      String body = "{}";
      String request = "POST /api/v1/inference/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
          + "\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n"
          + (forwardedFor == null ? "" : "X-Forwarded-For: " + forwardedFor + "\r\n") + "\r\n" + body;
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      for (int b = in.read(); b != -1 && b != '\n'; b = in.read()) {
        line.write(b);
      }
      String status = line.toString(StandardCharsets.US_ASCII);
      assertTrue(status.startsWith("HTTP/1.1 "), status);
      return Integer.parseInt(status.substring(9, 12));
    }
  }

  @Test
  void anonymousCallersAreLimitedPerClientAddress() throws Exception {
    OspreyApp app = service.app();
    List<Integer> first = new ArrayList<>();
    for (int i = 0; i <= LIMIT; i++) {
      first.add(predictFrom(app, "127.0.0.2", null));
    }
    assertEquals(LIMITED, first, "the limit, then 429");
    // Another address has its own budget: the first one spending its budget did not spend this one's.
    assertEquals(400, predictFrom(app, "127.0.0.3", null));
    // The address is the socket's: a client-made X-Forwarded-For is not trusted by default.
    assertEquals(429, predictFrom(app, "127.0.0.2", "198.51.100.7"));
  }

  @Test
  void tokenCallersAreLimitedPerSubjectApartFromAnonymousOnes() throws Exception {
    OspreyApp app = service.app();
    String subject = "rate-" + UUID.randomUUID();
    assertEquals(LIMITED, burst(app, TestAuth.token(subject)));
    assertEquals(429, predict(app, TestAuth.token(subject)), "a fresh token of the same subject shares its budget");
    assertEquals(LIMITED, burst(app, TestAuth.token(subject + "-other")), "another subject has a whole budget");
    // Anonymous callers from the same address as the token callers are not limited by the subjects' use.
    assertEquals(400, predictFrom(app, "127.0.0.4", null));
  }

  @Test
  void forwardedForIsTheAddressOnlyWhenConfiguredAndThenItsLastEntry() throws Exception {
    OspreyApp proxied = service.startPeer(Role.API, new JsonObject().put("jobs", new JsonObject()
        .put("queue", "osprey.test.idle." + UUID.randomUUID()).put("rate_limit_trust_forwarded_for", true))
        .put("redis", new JsonObject().put("key_prefix", "osprey:rate-test:" + UUID.randomUUID() + ":")));
    try {
      List<Integer> viaProxy = new ArrayList<>();
      for (int i = 0; i <= LIMIT; i++) {
        // The client made up the first entry; the proxy appended the last one, the address it saw.
        viaProxy.add(predictFrom(proxied, "127.0.0.5", "10.9.9." + i + ", 203.0.113.1"));
      }
      assertEquals(LIMITED, viaProxy, "one budget for 203.0.113.1 whatever the client claims");
      assertEquals(400, predictFrom(proxied, "127.0.0.5", "203.0.113.2"), "another client behind the proxy");
    } finally {
      TestService.stop(proxied);
    }
  }

  @Test
  void limitStillHoldsInProcessWhileRedisIsUnreachable() throws Exception {
    OspreyApp noRedis = service.startPeer(Role.API, new JsonObject().put("redis", new JsonObject().put("port", 1))
        .put("jobs", new JsonObject().put("queue", "osprey.test.idle." + UUID.randomUUID())));
    try {
      long start = System.nanoTime();
      assertEquals(LIMITED, burst(noRedis, null), "anonymous: 429 at limit + 1, not before");
      assertEquals(LIMITED, burst(noRedis, TestAuth.token("no-redis-" + UUID.randomUUID())), "a subject likewise");
      assertTrue(System.nanoTime() - start < 10_000_000_000L, "no long waits on the missing Redis");
    } finally {
      TestService.stop(noRedis);
    }
  }
}
