package io.osprey.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Jobs;
import io.osprey.testing.SseClient;
import io.osprey.testing.SseClient.Frame;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live events across a real Redis outage. This class runs its own throwaway redis-server on a free port (no
 * persistence) and stops and restarts it; the shared Redis of the other tests is never touched. Two instances share
 * it: the first with the default outage buffer, the peer with a buffer of 2 events.
 */
@IntegrationTest
class EventOutageTest {
  private static final String ANN = TestAuth.annotator();
  private static int redisPort;
  private static Path redisDir;
  private static TestService service;
  private static OspreyApp peer;
  private static String base;
  private static String peerBase;
  private static int seed = 81_000;

  @BeforeAll
  static void start() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      redisPort = s.getLocalPort();
    }
    redisDir = Files.createTempDirectory("osprey-outage-redis-");
    startRedis();
    service = TestService.start(EventOutageTest.class, Role.API, new JsonObject()
        .put("redis", new JsonObject().put("host", "127.0.0.1").put("port", redisPort))
        .put("events", new JsonObject().put("heartbeat_seconds", 1)));
    peer = service.startPeer(Role.API, new JsonObject().put("events", new JsonObject().put("outage_buffer", 2)));
    base = service.baseUrl();
    peerBase = "http://127.0.0.1:" + peer.port();
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (peer != null) {
        TestService.stop(peer);
      }
      if (service != null) {
        service.close();
      }
    } finally {
      stopRedis();
      try (var walk = Files.walk(redisDir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  private static void startRedis() throws Exception {
    run("redis-server", "--port", Integer.toString(redisPort), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", redisDir.toString(), "--daemonize", "yes");
    long end = System.currentTimeMillis() + 10_000;
    while (System.currentTimeMillis() < end) {
      if (ping()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the throwaway redis-server on port " + redisPort + " did not start");
  }

  private static void stopRedis() throws Exception {
    stopRedis(false);
  }

  /** Stops the throwaway Redis; with {@code keepData} it writes its data first and reloads it when started again. */
  private static void stopRedis(boolean keepData) throws Exception {
    run("redis-cli", "-p", Integer.toString(redisPort), "shutdown", keepData ? "save" : "nosave");
    long end = System.currentTimeMillis() + 10_000;
    while (ping() && System.currentTimeMillis() < end) {
      Thread.sleep(50);
    }
  }

  private static boolean ping() throws Exception {
    Process p = new ProcessBuilder("redis-cli", "-p", Integer.toString(redisPort), "ping").redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    p.waitFor(5, TimeUnit.SECONDS);
    return out.equals("PONG");
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    p.waitFor(10, TimeUnit.SECONDS);
  }

  private static String create(String on, String flight) throws Exception {
    Http.Response r = Http.json("POST", on + "/annotations", ANN, new JsonObject()
        .put("image", Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(seed++))).put("flightId", flight)
        .put("detections", new JsonArray().add(new JsonObject().put("classNum", 1).put("label", "c")
            .put("centerX", 0.5).put("centerY", 0.5).put("width", 0.1).put("height", 0.1))));
    assertEquals(201, r.status(), "a change commits while Redis is away: " + r.body());
    return r.json().getString("id");
  }

  /** Frames (annotation and control) that arrive until {@code last} is seen or the time is up. */
  private static List<Frame> until(SseClient sse, String last, long ms) throws InterruptedException {
    List<Frame> got = new ArrayList<>();
    long end = System.currentTimeMillis() + ms;
    while (System.currentTimeMillis() < end) {
      Frame f = sse.next(end - System.currentTimeMillis());
      if (f == null) {
        break;
      }
      got.add(f);
      if ("annotation".equals(f.type()) && last.equals(new JsonObject(f.data()).getString("annotationId"))) {
        break;
      }
    }
    return got;
  }

  private static List<String> annotationIds(List<Frame> frames) {
    return frames.stream().filter(f -> "annotation".equals(f.type()))
        .map(f -> new JsonObject(f.data()).getString("annotationId")).toList();
  }

  @Test
  void eventsCommittedDuringAnOutageReachAConnectedSubscriberAfterItInOrderAndResumeWorks() throws Exception {
    List<String> during = new ArrayList<>();
    List<Frame> after;
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=outage", ANN, null)) {
      assertEquals(200, sse.status());
      String before = create(base, "outage");
      List<Frame> live = until(sse, before, 10_000);
      assertEquals(List.of(before), annotationIds(live), "live before the outage");
      String beforeId = live.get(live.size() - 1).id();
      // Logged before the outage but after the resume point below: a resume during the outage must not skip it.
      String loggedBefore = create(base, "outage");
      assertEquals(List.of(loggedBefore), annotationIds(until(sse, loggedBefore, 10_000)));

      stopRedis(true); // a Redis that keeps its data, as a production one does
      long stoppedAt = System.currentTimeMillis();
      for (int i = 0; i < 5; i++) {
        during.add(create(base, "outage"));
      }
      // A client that lost its connection reconnects during the outage: its replay waits for Redis.
      try (SseClient resumer = SseClient.open(base + "/annotations/events?flightId=outage", ANN, beforeId)) {
        assertEquals(200, resumer.status());
        List<Frame> meanwhile = sse.drain(1500);
        assertTrue(annotationIds(meanwhile).isEmpty(), "nothing can be delivered while the log is away");
        startRedis();
        long startedAt = System.currentTimeMillis();
        Files.deleteIfExists(redisDir.resolve("dump.rdb"));

        after = until(sse, during.get(during.size() - 1), 20_000);
        System.out.printf("[fault] Redis stop (%.1f s): %d annotation creates during it all answered 201; their"
            + " events reached the connected subscriber in commit order, once, %d ms after Redis was back, and a"
            + " resume during the outage continued exactly%n", (startedAt - stoppedAt) / 1000.0, during.size(),
            System.currentTimeMillis() - startedAt);
        assertEquals(during, annotationIds(after), "every event of the outage, in commit order, once: " + after);
        assertTrue(after.stream().noneMatch(f -> "reset".equals(f.type())), "within the buffer: no reset");
        List<Frame> resumed = until(resumer, during.get(during.size() - 1), 20_000);
        List<String> expected = new ArrayList<>(List.of(loggedBefore));
        expected.addAll(during);
        assertEquals(expected, annotationIds(resumed), "the resume continued exactly where it left off: " + resumed);
        assertTrue(resumed.stream().noneMatch(f -> "reset".equals(f.type())));
      }
    }
    // The held events are in the log now: a client that saw the second one resumes after it, exactly.
    String secondId = after.stream().filter(f -> "annotation".equals(f.type())
        && during.get(1).equals(new JsonObject(f.data()).getString("annotationId"))).findFirst().orElseThrow().id();
    assertNotNull(secondId);
    try (SseClient again = SseClient.open(base + "/annotations/events?flightId=outage", ANN, secondId)) {
      assertEquals(during.subList(2, during.size()), annotationIds(again.drain(1500)));
    }
  }

  @Test
  void anOutageLongerThanTheBufferGivesEverySubscriberAReset() throws Exception {
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=overflow", ANN, null)) {
      assertEquals(200, sse.status());
      String warm = create(peerBase, "overflow");
      assertEquals(List.of(warm), annotationIds(until(sse, warm, 10_000)));

      stopRedis();
      List<String> during = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        during.add(create(peerBase, "overflow")); // the peer holds at most 2
      }
      startRedis();

      String last = during.get(during.size() - 1);
      List<Frame> after = until(sse, last, 20_000);
      int reset = -1;
      for (int i = 0; i < after.size(); i++) {
        if ("reset".equals(after.get(i).type())) {
          reset = i;
          break;
        }
      }
      assertTrue(reset >= 0, "the subscriber (of the other instance, whatever its filter) is told: " + after);
      Frame r = after.get(reset);
      assertEquals("message", r.event(), "a default-type frame, seen by EventSource.onmessage");
      assertNotNull(r.id(), "the reset has its place in the log");
      assertTrue(new JsonObject(r.data()).getString("reason").contains("Redis"), r.data());
      List<String> delivered = annotationIds(after.subList(reset, after.size()));
      assertEquals(last, delivered.get(delivered.size() - 1), "what followed the drop still arrives");
      assertTrue(annotationIds(after).size() < during.size(), "some were dropped, and said so: " + after);
    }
  }

  @Test
  void aJobStreamHearsOfAStatusChangeMadeWhileRedisWasAway() throws Exception {
    Path dir = Files.createTempDirectory("osprey-outage-upload-");
    Path image = Fixtures.write(dir, "a.jpg", Fixtures.uniqueJpeg(seed++));
    JsonObject upload = Jobs.upload(base, List.of(image));
    Files.delete(image);
    Files.delete(dir);
    Http.Response predicted = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id")));
    assertEquals(202, predicted.status(), predicted.body());
    String jobId = predicted.json().getJsonObject("data").getString("job_id");
    try (SseClient sse = SseClient.open(base + "/api/v1/jobs/" + jobId + "/events", null, null)) {
      Frame first = sse.next(10_000);
      assertEquals("status", first.type(), String.valueOf(first));
      assertEquals("queued", new JsonObject(first.data()).getString("status"));

      stopRedis();
      // No worker runs here, so the job is still queued: cancelling it is a status change announced through Redis,
      // which is away, so the stream cannot hear of it as it happens.
      Http.Response cancelled = Jobs.post(base + "/api/v1/jobs/" + jobId + "/cancel");
      assertEquals(200, cancelled.status(), cancelled.body());
      startRedis();

      Frame f;
      long end = System.currentTimeMillis() + 20_000;
      String status = null;
      while (System.currentTimeMillis() < end && (f = sse.next(end - System.currentTimeMillis())) != null) {
        status = new JsonObject(f.data()).getString("status");
        if ("cancelled".equals(status)) {
          break;
        }
      }
      assertEquals("cancelled", status, "the stream re-read the status once Redis was back");
      Await.until("the stream ended after the terminal status", Duration.ofSeconds(5), sse::ended);
    }
  }
}
