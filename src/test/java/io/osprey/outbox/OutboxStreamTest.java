package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.auth.Permission;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The outbox drained to a real RabbitMQ stream (each test class its own stream), read back with the real stream
 * client and decoded as docs/stream-contract.md says. The tests share one stream and look at their own messages.
 */
@IntegrationTest
class OutboxStreamTest {
  private static TestService service;
  private static String base;
  private static final String ANN = TestAuth.annotator();
  private static final String ALL = TestAuth.admin();
  private static int seed = 30_000;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(OutboxStreamTest.class, io.osprey.Role.API, new JsonObject()
        .put("outbox", new JsonObject().put("enabled", true).put("missing_image_grace_seconds", 2)));
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  static JsonObject detection(int cls) {
    return new JsonObject().put("classNum", cls).put("label", "c" + cls).put("centerX", 0.5).put("centerY", 0.5)
        .put("width", 0.1).put("height", 0.1).put("confidence", 0.75);
  }

  static String create(String base, byte[] image, String flight) throws Exception {
    Http.Response r = Http.json("POST", base + "/annotations", ANN, new JsonObject()
        .put("image", Base64.getEncoder().encodeToString(image)).put("flightId", flight).put("source", "AI")
        .put("detections", new JsonArray().add(detection(1))));
    assertEquals(201, r.status(), r.body());
    return r.json().getString("id");
  }

  private static List<Received> about(List<Received> all, String id) {
    List<Received> out = new ArrayList<>();
    for (Received r : all) {
      JsonObject b = r.body();
      if (id.equals(b.getString("annotationId")) || b.getJsonArray("annotationIds", new JsonArray()).contains(id)) {
        out.add(r);
      }
    }
    return out;
  }

  static void waitOutboxEmpty(TestService service, long timeoutMs) throws Exception {
    long end = System.currentTimeMillis() + timeoutMs;
    while (service.count("SELECT count(*) FROM annotation_outbox") > 0) {
      assertTrue(System.currentTimeMillis() < end, "the outbox did not drain");
      Thread.sleep(50);
    }
  }

  @Test
  void everyOperationArrivesInOrderAndDecodes() throws Exception {
    byte[] image = Fixtures.uniqueJpeg(seed++);
    String id = create(base, image, "ops");
    String other = create(base, Fixtures.uniqueJpeg(seed++), "ops");
    assertEquals(200, Http.json("PUT", base + "/annotations/" + id, ANN, new JsonObject()
        .put("detections", new JsonArray().add(detection(2)).add(detection(3)))).status());
    String dataset = TestAuth.token("curator", Permission.DATASET);
    assertEquals(200, Http.json("PATCH", base + "/dataset/" + id + "/status", dataset,
        new JsonObject().put("status", "Validated")).status());
    assertEquals(200, Http.json("POST", base + "/dataset/bulk-status", dataset, new JsonObject()
        .put("annotationIds", new JsonArray().add(id).add(other)).put("status", "Edited")).status());
    assertEquals(204, Http.json("DELETE", base + "/annotations/" + id, ALL, null).status());
    waitOutboxEmpty(service, 20_000);

    List<Received> mine = about(StreamMessages.read(service.config(), 1, Duration.ofSeconds(20),
        Duration.ofMillis(300)), id);
    assertEquals(List.of("Created", "Edited", "Validated", "StatusChanged", "Deleted"),
        mine.stream().map(r -> r.body().getString("operation")).toList(), "every operation, in commit order");
    long previous = -1;
    for (Received r : mine) {
      assertEquals(1L, r.body().getLong("schemaVersion"));
      assertTrue(r.body().getLong("outboxId") > previous, "outbox ids grow along the stream");
      previous = r.body().getLong("outboxId");
      assertEquals(r.body().getLong("outboxId"), ((Number) r.messageId()).longValue(), "AMQP message-id = dedupe key");
      assertEquals(r.body().getString("operation"), String.valueOf(r.properties().get("operation")));
    }
    JsonObject created = mine.get(0).body();
    assertEquals("annotation", created.getString("kind"));
    assertEquals(id, created.getString("annotationId"));
    assertEquals("Created", created.getString("status"));
    assertEquals(10L, created.getLong("statusCode"));
    assertEquals("ops", created.getString("flightId"));
    assertEquals("AI", created.getString("source"));
    assertEquals("jpg", created.getString("imageFormat"));
    assertArrayEquals(image, StreamContract.image(created), "the image travels with Created");
    assertEquals(1, created.getJsonArray("detections").size());
    assertEquals(0.75, created.getJsonArray("detections").getJsonObject(0).getDouble("confidence"), 1e-9);
    JsonObject edited = mine.get(1).body();
    assertEquals(2, edited.getJsonArray("detections").size());
    assertNull(edited.getValue("image"));
    assertEquals(30L, mine.get(2).body().getLong("statusCode"));
    JsonObject bulk = mine.get(3).body();
    assertEquals("bulk", bulk.getString("kind"));
    assertEquals(java.util.Set.of(id, other), java.util.Set.copyOf(bulk.getJsonArray("annotationIds").getList()));
    assertEquals("2", String.valueOf(mine.get(3).properties().get("annotation-count")));
    assertEquals("Deleted", mine.get(4).body().getString("status"));
  }

  @Test
  void operatorTailCommandPrintsDecodedMessages() throws Exception {
    String id = create(base, Fixtures.uniqueJpeg(seed++), "tail");
    waitOutboxEmpty(service, 20_000);
    java.nio.file.Path log = Files.createTempFile("osprey-tail-", ".log");
    try {
      Process tail = service.spawnMain(StreamTail.class, List.of("--from", "first", "--limit", "1000",
          "--idle-seconds", "3"), java.util.Map.of(), log);
      assertTrue(tail.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
      assertEquals(0, tail.exitValue(), Files.readString(log));
      JsonObject line = Files.readAllLines(log).stream().filter(l -> l.startsWith("{") && l.contains(id))
          .map(JsonObject::new).findFirst().orElseThrow(() -> new AssertionError("no line for " + id));
      assertEquals("Created", line.getJsonObject("body").getString("operation"));
      assertTrue(line.getJsonObject("body").getString("image").matches("<\\d+ bytes>"));
    } finally {
      Files.deleteIfExists(log);
    }
  }

  @Test
  void rowsCommittedOutOfIdOrderAreAllPublished() throws Exception {
    // A transaction takes an outbox id and commits only after later ids were published: a drainer using row ids
    // as publishing ids would see the broker drop it as a duplicate. This one must not.
    String lateId = "ab".repeat(16);
    try (var c = service.jdbc()) {
      c.setAutoCommit(false);
      try (var s = c.prepareStatement("INSERT INTO annotation_outbox (operation, annotation_ids, payload)"
          + " VALUES ('StatusChanged', ARRAY[?], ?::jsonb)")) {
        s.setString(1, lateId);
        s.setString(2, new JsonObject().put("annotationId", lateId).put("operation", "StatusChanged")
            .put("status", "Edited").put("time", "2026-11-25T00:00:00Z").encode());
        s.executeUpdate();
      }
      for (int i = 0; i < 3; i++) {
        create(base, Fixtures.uniqueJpeg(seed++), "late");
      }
      waitOutboxEmpty(service, 20_000);
      c.createStatement().execute("NOTIFY osprey_outbox");
      c.commit();
    }
    waitOutboxEmpty(service, 20_000);
    List<Received> all = StreamMessages.read(service.config(), 1, Duration.ofSeconds(20), Duration.ofMillis(300));
    assertEquals(1, about(all, lateId).size(), "the late-committing row reached the stream");
  }

  @Test
  void aHeldRowHoldsBackOnlyItsOwnAnnotationInABatchBuiltOnSeveralThreads() throws Exception {
    // 42 rows in one batch: more than one bodies' thread builds them; the Created row in the middle has no image
    // file yet (held), and so the change after it about the same annotation waits too, until the file is back.
    String id = create(base, Fixtures.uniqueJpeg(seed++), "held-batch");
    waitOutboxEmpty(service, 20_000);
    java.nio.file.Path image = service.storage().resolve("annotations/images").resolve(id + ".jpg");
    java.nio.file.Path aside = image.resolveSibling(id + ".aside");
    Files.move(image, aside);
    List<String> others = new ArrayList<>();
    try (var c = service.jdbc()) {
      c.setAutoCommit(false);
      try (var s = c.prepareStatement("INSERT INTO annotation_outbox (operation, annotation_ids, payload)"
          + " VALUES (?, ARRAY[?], ?::jsonb)")) {
        for (int i = 0; i < 42; i++) {
          String about = i == 20 || i == 21 ? id : String.format("%032x", 0xbeef00L + i);
          String operation = i == 20 ? "Created" : "StatusChanged";
          if (!about.equals(id)) {
            others.add(about);
          }
          s.setString(1, operation);
          s.setString(2, about);
          s.setString(3, new JsonObject().put("annotationId", about).put("operation", operation)
              .put("status", i == 20 ? "Created" : "Edited").put("mediaId", about).put("detections", new JsonArray())
              .put("time", "2026-11-25T00:00:00Z").encode());
          s.executeUpdate();
        }
      }
      c.createStatement().execute("NOTIFY osprey_outbox");
      c.commit();
    }
    long end = System.currentTimeMillis() + 20_000;
    while (service.count("SELECT count(*) FROM annotation_outbox") > 2) {
      assertTrue(System.currentTimeMillis() < end, "the other annotations' rows were not published");
      Thread.sleep(20);
    }
    assertEquals(2, service.count("SELECT count(*) FROM annotation_outbox WHERE annotation_ids[1] = '" + id + "'"),
        "the held Created and the change behind it are what is left");
    Files.move(aside, image);
    waitOutboxEmpty(service, 20_000);
    List<Received> all = StreamMessages.read(service.config(), 1, Duration.ofSeconds(20), Duration.ofMillis(300));
    List<Received> mine = about(all, id);
    List<String> operations = mine.stream().map(r -> r.body().getString("operation")).toList();
    assertEquals("Created", operations.get(operations.size() - 2), "the held Created first: " + operations);
    assertEquals("StatusChanged", operations.get(operations.size() - 1), "then the change held behind it");
    assertNull(mine.get(mine.size() - 2).body().getValue("imageMissing"), "sent with its image once it was back");
    int heldAt = all.indexOf(mine.get(mine.size() - 2));
    for (String other : others) {
      List<Received> theirs = about(all, other);
      assertEquals(1, theirs.size(), other + " published once");
      assertTrue(all.indexOf(theirs.get(0)) < heldAt, other + " was not held back with the other annotation");
    }
  }

  @Test
  void createdRowWithoutItsImageIsHeldThenPublishedFlagged() throws Exception {
    String id = create(base, Fixtures.uniqueJpeg(seed++), "missing");
    waitOutboxEmpty(service, 20_000);
    Files.delete(service.storage().resolve("annotations/images").resolve(id + ".jpg"));
    long before = System.nanoTime();
    try (var c = service.jdbc(); var s = c.prepareStatement("INSERT INTO annotation_outbox (operation,"
        + " annotation_ids, payload) VALUES ('Created', ARRAY[?], ?::jsonb)")) {
      s.setString(1, id);
      s.setString(2, new JsonObject().put("annotationId", id).put("operation", "Created").put("status", "Created")
          .put("mediaId", id).put("detections", new JsonArray()).put("time", "2026-11-25T00:00:00Z").encode());
      s.executeUpdate();
      c.createStatement().execute("NOTIFY osprey_outbox");
    }
    waitOutboxEmpty(service, 20_000);
    double waited = (System.nanoTime() - before) / 1e9;
    assertTrue(waited >= 1.5, "held for the grace period first, published after " + waited + " s");
    List<Received> mine = about(StreamMessages.read(service.config(), 1, Duration.ofSeconds(20),
        Duration.ofMillis(300)), id);
    JsonObject flagged = mine.get(mine.size() - 1).body();
    assertEquals(true, flagged.getBoolean("imageMissing"));
    assertNull(flagged.getValue("image"));
    assertTrue(Http.get(base + "/metrics").body().contains("outbox_image_missing_total 1.0"));
  }
}
