package io.osprey.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.SseClient;
import io.osprey.testing.SseClient.Frame;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** F3 with real HTTP SSE clients: ids, resume, reset, fan-out across instances, slow subscribers, auth. */
@IntegrationTest
class EventStreamsTest {
  private static TestService service;
  private static OspreyApp peer;
  private static String base;
  private static String peerBase;
  private static final String ANN = TestAuth.annotator();
  private static int seed = 60_000;

  @BeforeAll
  static void start() throws Exception {
    JsonObject events = new JsonObject().put("events", new JsonObject().put("heartbeat_seconds", 1)
        .put("max_buffer_bytes", 16384).put("retry_ms", 2500));
    service = TestService.start(EventStreamsTest.class, Role.API, events);
    peer = service.startPeer(Role.API, new JsonObject());
    base = service.baseUrl();
    peerBase = "http://127.0.0.1:" + peer.port();
  }

  @AfterAll
  static void stop() throws Exception {
    if (peer != null) {
      TestService.stop(peer);
    }
    if (service != null) {
      service.close();
    }
  }

  private static JsonObject detection(int cls) {
    return new JsonObject().put("classNum", cls).put("label", "c").put("centerX", 0.5).put("centerY", 0.5)
        .put("width", 0.1).put("height", 0.1);
  }

  private static String create(String on, String flight) throws Exception {
    Http.Response r = Http.json("POST", on + "/annotations", ANN, new JsonObject()
        .put("image", Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(seed++))).put("flightId", flight)
        .put("detections", new JsonArray().add(detection(1))));
    assertEquals(201, r.status(), r.body());
    return r.json().getString("id");
  }

  private static Frame annotationFrame(SseClient client, String id) throws InterruptedException {
    long end = System.currentTimeMillis() + 10_000;
    while (System.currentTimeMillis() < end) {
      Frame f = client.next(end - System.currentTimeMillis());
      if (f != null && "annotation".equals(f.type()) && new JsonObject(f.data()).getString("annotationId").equals(id)) {
        return f;
      }
    }
    throw new AssertionError("no event for " + id);
  }

  @Test
  void everyMutationArrivesWithIdsRetryHintAndHeartbeats() throws Exception {
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=mut", ANN, null)) {
      assertEquals(200, sse.status());
      assertTrue(sse.contentType().startsWith("text/event-stream"));
      String id = create(base, "mut");
      String otherFlight = create(base, "not-mut");
      assertEquals(200, Http.json("PUT", base + "/annotations/" + id, ANN, new JsonObject()
          .put("detections", new JsonArray().add(detection(2)))).status());
      String curator = TestAuth.token("c", Permission.DATASET);
      assertEquals(200, Http.json("PATCH", base + "/dataset/" + id + "/status", curator,
          new JsonObject().put("status", "Validated")).status());
      assertEquals(200, Http.json("POST", base + "/dataset/bulk-status", curator, new JsonObject()
          .put("annotationIds", new JsonArray().add(id)).put("status", "Edited")).status());
      assertEquals(204, Http.json("DELETE", base + "/annotations/" + id, ANN, null).status());
      List<String> ops = new ArrayList<>();
      String previous = null;
      for (int i = 0; i < 5; i++) {
        Frame f = annotationFrame(sse, id);
        assertNotNull(f.id());
        assertEquals("message", f.event(), "no event: line, so EventSource.onmessage receives it");
        if (previous != null) {
          assertTrue(EventLog.compare(f.id(), previous) > 0, "ids increase");
        }
        previous = f.id();
        ops.add(new JsonObject(f.data()).getString("operation"));
      }
      assertEquals(List.of("Created", "Edited", "Validated", "StatusChanged", "Deleted"), ops);
      List<Frame> rest = sse.drain(1500);
      assertTrue(rest.stream().noneMatch(f -> f.data().contains(otherFlight)), "the flight filter applies");
      assertTrue(rest.stream().anyMatch(f -> f.comment() && f.data().equals("heartbeat")), "heartbeats arrive");
    }
  }

  @Test
  void reconnectingWithLastEventIdReplaysExactlyTheMissedEvents() throws Exception {
    String lastId;
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=resume", ANN, null)) {
      lastId = annotationFrame(sse, create(base, "resume")).id();
    }
    List<String> missed = List.of(create(base, "resume"), create(peerBase, "resume"), create(base, "resume"));
    try (SseClient again = SseClient.open(base + "/annotations/events?flightId=resume", ANN, lastId)) {
      List<String> got = new ArrayList<>();
      for (Frame f : again.drain(1500)) {
        if ("annotation".equals(f.type())) {
          got.add(new JsonObject(f.data()).getString("annotationId"));
        }
      }
      assertEquals(missed, got, "exactly the missed events, in order, once");
      String live = create(base, "resume");
      assertNotNull(annotationFrame(again, live), "then live events follow");
    }
    try (SseClient old = SseClient.open(base + "/annotations/events", ANN, "1-0")) {
      Frame f = old.next(5000);
      assertEquals("reset", f.type(), "an id older than the retained log gets a reset");
      assertEquals("message", f.event(), "as a default-type frame a browser's onmessage gets");
    }
  }

  @Test
  void aStreamThatReceivedNothingStillResumesWhereItStarted() throws Exception {
    create(base, "elsewhere"); // the log is not empty: there is a position to start from
    String startedAt;
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=quiet", ANN, null)) {
      startedAt = Await.until("the stream's starting position", Duration.ofSeconds(10), sse::lastEventId,
          java.util.Objects::nonNull);
      assertNull(sse.next(300), "the position is an id-only block: no event is dispatched");
    }
    String missed = create(base, "quiet");
    try (SseClient again = SseClient.open(base + "/annotations/events?flightId=quiet", ANN, startedAt)) {
      assertNotNull(annotationFrame(again, missed), "what was created while away is replayed");
    }
  }

  @Test
  void streamsAreNeverCompressedEvenWhenTheClientAcceptsGzip() throws Exception {
    java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
    var response = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base
            + "/annotations/events?flightId=gz")).header("Authorization", "Bearer " + ANN)
            .header("Accept-Encoding", "gzip").build(),
        java.net.http.HttpResponse.BodyHandlers.ofInputStream());
    try (var in = response.body()) {
      assertEquals("identity", response.headers().firstValue("Content-Encoding").orElse("identity"));
      byte[] first = in.readNBytes(6);
      assertEquals("retry:", new String(first, StandardCharsets.US_ASCII), "plain text, readable at once");
    }
  }

  @Test
  void anEventProducedOnOneInstanceReachesSubscribersOfAnother() throws Exception {
    try (SseClient onPeer = SseClient.open(peerBase + "/annotations/events", ANN, null)) {
      String id = create(base, "cross");
      assertNotNull(annotationFrame(onPeer, id));
    }
  }

  @Test
  void badTokensAre401BeforeTheStreamAndQueryTokensWork() throws Exception {
    Http.Response bad = Http.get(base + "/annotations/events?access_token=garbage");
    assertEquals(401, bad.status());
    assertEquals("UNAUTHORIZED", bad.json().getString("code"));
    assertEquals(403, Http.get(base + "/annotations/events", TestAuth.token("x", Permission.DATASET)).status());
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=q&access_token=" + ANN, null, null)) {
      assertEquals(200, sse.status());
      assertNotNull(annotationFrame(sse, create(base, "q")));
    }
  }

  @Test
  void anExpiringTokenEndsTheStreamWithAnAuthEvent() throws Exception {
    String shortLived = TestAuth.keys().token("brief", List.of(Permission.ANN), 2);
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=none", shortLived, null)) {
      assertEquals(200, sse.status());
      Frame f = sse.next(8000);
      assertEquals("auth", f.type());
      assertEquals("message", f.event());
      assertTrue(f.data().contains("token expired"));
    }
  }

  @Test
  void aSlowSubscriberIsCutOffWhileAFastOneKeepsReceiving() throws Exception {
    EventStreams streams = service.app().eventStreams();
    try (SseClient fast = SseClient.open(base + "/annotations/events?flightId=slow", ANN, null);
         Socket slow = new Socket("127.0.0.1", service.app().port())) {
      slow.setReceiveBufferSize(4096);
      OutputStream out = slow.getOutputStream();
      out.write(("GET /annotations/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ANN
          + "\r\nAccept: text/event-stream\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      long until = System.currentTimeMillis() + 5000;
      while (streams.openStreams() < 2 && System.currentTimeMillis() < until) {
        Thread.sleep(20);
      }
      int before = streams.openStreams();
      // Large events (many detections) fill the unread socket and the 16 KB allowance quickly.
      String id = create(base, "slow");
      JsonArray many = new JsonArray();
      for (int i = 0; i < 4000; i++) {
        many.add(detection(i % 50));
      }
      int edits = 0;
      long end = System.currentTimeMillis() + 60_000;
      while (streams.openStreams() >= before && System.currentTimeMillis() < end) {
        assertEquals(200, Http.json("PUT", base + "/annotations/" + id, ANN, new JsonObject()
            .put("detections", many)).status());
        edits++;
      }
      assertEquals(before - 1, streams.openStreams(), "the slow subscriber was disconnected");
      int received = 0;
      long stop = System.currentTimeMillis() + 20_000;
      while (received < edits + 1 && System.currentTimeMillis() < stop) {
        Frame f = fast.next(stop - System.currentTimeMillis());
        if (f != null && "annotation".equals(f.type())) {
          received++;
        }
      }
      assertEquals(edits + 1, received, "the fast subscriber got every event");
    }
  }

  @Test
  void theStatusFilterTakesNamesOrNumbersAndRejectsOtherValues() throws Exception {
    Http.Response bad = Http.get(base + "/annotations/events?status=Validated,bogus", ANN);
    assertEquals(400, bad.status());
    assertEquals("INVALID_REQUEST", bad.json().getString("code"));
    assertTrue(bad.json().getString("message").contains("'bogus' is not one of Created (10)"),
        bad.json().getString("message"));
    String curator = TestAuth.token("c", Permission.DATASET);
    try (SseClient sse = SseClient.open(base + "/annotations/events?flightId=st&status=30,edited", ANN, null)) {
      assertEquals(200, sse.status());
      String id = create(base, "st"); // Created: filtered out
      assertEquals(200, Http.json("PATCH", base + "/dataset/" + id + "/status", curator,
          new JsonObject().put("status", "Validated")).status());
      assertEquals(200, Http.json("PATCH", base + "/dataset/" + id + "/status", curator,
          new JsonObject().put("status", "Edited")).status());
      assertEquals(204, Http.json("DELETE", base + "/annotations/" + id, ANN, null).status()); // filtered out
      String marker = create(base, "st");
      assertEquals(200, Http.json("PATCH", base + "/dataset/" + marker + "/status", curator,
          new JsonObject().put("status", "Validated")).status());
      List<String> seen = new ArrayList<>();
      long end = System.currentTimeMillis() + 10_000;
      while (System.currentTimeMillis() < end) {
        Frame f = sse.next(end - System.currentTimeMillis());
        if (f != null && "annotation".equals(f.type())) {
          JsonObject e = new JsonObject(f.data());
          seen.add(e.getString("status"));
          if (marker.equals(e.getString("annotationId"))) {
            break;
          }
        }
      }
      assertEquals(List.of("Validated", "Edited", "Validated"), seen);
    }
  }

  /**
   * Every event-bus handler of the service, from /metrics (the gauge has no address label: it is not among the
   * service's metric labels). Nothing else registers or removes handlers while a test of this class runs.
   */
  private static double busHandlers() throws Exception {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^vertx_eventbus_handlers(\\{[^}]*})? (\\S+)$")
        .matcher(Http.get(base + "/metrics").body());
    double sum = 0;
    boolean found = false;
    while (m.find()) {
      sum += Double.parseDouble(m.group(2));
      found = true;
    }
    assertTrue(found, "/metrics has vertx_eventbus_handlers");
    return sum;
  }

  private static double awaitBusHandlers(double expected) throws Exception {
    long end = System.currentTimeMillis() + 10_000;
    double now = busHandlers();
    while (now != expected && System.currentTimeMillis() < end) {
      Thread.sleep(50);
      now = busHandlers();
    }
    return now;
  }

  @Test
  void eachStreamConsumesTheLocalBusWhileItIsOpenAndStopsWhenItsConnectionEnds() throws Exception {
    long end = System.currentTimeMillis() + 10_000;
    while (service.app().eventStreams().openStreams() > 0 && System.currentTimeMillis() < end) {
      Thread.sleep(50); // streams of earlier tests may still be closing
    }
    double before = busHandlers();
    try (SseClient a = SseClient.open(base + "/annotations/events?flightId=own", ANN, null);
         SseClient b = SseClient.open(base + "/annotations/events?flightId=own", ANN, null)) {
      assertEquals(200, a.status());
      assertEquals(200, b.status());
      assertEquals(before + 2, awaitBusHandlers(before + 2), "one consumer per open stream");
      String id = create(base, "own");
      assertNotNull(annotationFrame(a, id));
      assertNotNull(annotationFrame(b, id));
    }
    assertEquals(before, awaitBusHandlers(before), "a closed connection leaves no consumer behind");
    assertEquals(0, service.app().eventStreams().openStreams());
  }
}
