package io.osprey.annotations;

import static io.osprey.annotations.Annotations.create;
import static io.osprey.annotations.Annotations.detection;
import static io.osprey.annotations.Annotations.request;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.auth.Permission;
import io.osprey.bus.Bus;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** F1, F2 and F8 through HTTP against real PostgreSQL, with tokens from a real JWKS server. */
@IntegrationTest
class AnnotationsApiTest {
  private static final AtomicInteger SEED = new AtomicInteger(1000);
  private static TestService service;
  private static String base;
  private static final String ANN = TestAuth.annotator();
  private static final String DATASET = TestAuth.token("curator", Permission.DATASET);
  private static final String ADMIN = TestAuth.admin();
  private static final LinkedBlockingQueue<JsonObject> EVENTS = new LinkedBlockingQueue<>();

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(AnnotationsApiTest.class);
    base = service.baseUrl();
    service.app().vertx().eventBus().<JsonArray>consumer(Bus.ANNOTATION_EVENTS,
        m -> m.body().forEach(e -> EVENTS.add((JsonObject) e)));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static byte[] image() throws Exception {
    return Fixtures.uniqueJpeg(SEED.incrementAndGet());
  }

  private static JsonObject created(byte[] image, String flight) throws Exception {
    Http.Response r = create(base, ANN, request(image, flight, detection(2, "car", 0.5, 0.5),
        detection(0, "person", 0.25, 0.75)));
    assertEquals(201, r.status(), r.body());
    return r.json();
  }

  private static JsonObject nextEvent(String id) throws InterruptedException {
    return nextEvent(id, null);
  }

  private static JsonObject nextEvent(String id, String operation) throws InterruptedException {
    long end = System.currentTimeMillis() + 5000;
    while (System.currentTimeMillis() < end) {
      JsonObject e = EVENTS.poll(end - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
      if (e != null && id.equals(e.getString("annotationId"))
          && (operation == null || operation.equals(e.getString("operation")))) {
        return e;
      }
    }
    throw new AssertionError("no live event " + operation + " for " + id);
  }

  private static List<JsonObject> outbox(String id) throws Exception {
    List<JsonObject> rows = new java.util.ArrayList<>();
    try (var c = service.jdbc(); var s = c.prepareStatement("SELECT operation, payload::text FROM annotation_outbox"
        + " WHERE ? = ANY(annotation_ids) ORDER BY id")) {
      s.setString(1, id);
      try (var rs = s.executeQuery()) {
        while (rs.next()) {
          rows.add(new JsonObject(rs.getString(2)).put("_operation", rs.getString(1)));
        }
      }
    }
    return rows;
  }

  @Test
  void createWithImageBytesStoresRowsFilesOutboxAndPublishesEvent() throws Exception {
    byte[] img = image();
    JsonObject a = created(img, "flight-create");
    String id = a.getString("id");
    assertEquals(ContentId.of(img), id, "the id is the XXH3-128 of the sampled image bytes");
    assertEquals(id, a.getString("mediaId"));
    assertEquals("Created", a.getString("status"));
    assertEquals("complete", a.getString("filesState"));
    assertEquals(2, a.getJsonArray("detections").size());
    assertEquals(320, a.getInteger("width"));
    assertNotNull(a.getString("createdAt"));

    Http.Response got = Http.get(base + "/annotations/" + id, ANN);
    assertEquals(200, got.status());
    assertEquals("car", got.json().getJsonArray("detections").getJsonObject(0).getString("label"));
    var bytes = Http.bytes(base + "/annotations/" + id + "/image", ANN);
    assertEquals(200, bytes.statusCode());
    assertArrayEquals(img, bytes.body());
    var thumb = Http.bytes(base + "/annotations/" + id + "/thumbnail", ANN);
    assertEquals(200, thumb.statusCode());
    assertEquals("image/jpeg", thumb.headers().firstValue("Content-Type").orElse(""));

    Path root = service.storage().resolve("annotations");
    assertEquals("2 0.500000 0.500000 0.100000 0.080000\n0 0.250000 0.750000 0.100000 0.080000\n",
        Files.readString(root.resolve("labels").resolve(id + ".txt")));
    assertTrue(Files.exists(root.resolve("thumbnails").resolve(id + ".jpg")));

    List<JsonObject> rows = outbox(id);
    assertEquals(1, rows.size());
    assertEquals("Created", rows.get(0).getString("_operation"));
    assertEquals(2, rows.get(0).getJsonArray("detections").size());
    JsonObject event = nextEvent(id);
    assertEquals("Created", event.getString("operation"));
    assertEquals("flight-create", event.getString("flightId"));
    assertEquals(id, event.getString("mediaId"));
  }

  @Test
  void createAnswersLocationAndSameImageTwiceIsAConflict() throws Exception {
    byte[] img = image();
    Http.Response first = create(base, ANN, request(img, "f", detection(1, "truck", 0.4, 0.4)));
    assertEquals(201, first.status());
    String id = first.json().getString("id");
    assertEquals("/annotations/" + id, first.header("Location"));
    Http.Response again = create(base, ANN, request(img, "f", detection(1, "truck", 0.4, 0.4)));
    assertEquals(409, again.status());
    assertEquals("ANNOTATION_EXISTS", again.json().getString("code"));
    assertEquals("/annotations/" + id, again.header("Location"));
    assertEquals(1, outbox(id).size(), "the refused create wrote no outbox row");
  }

  @Test
  void createAsMultipartFormTakesTheRawImage() throws Exception {
    byte[] img = image();
    JsonObject meta = request(null, "flight-mp", detection(3, "bus", 0.3, 0.3));
    Http.Response r = new Http.Multipart().token(ANN).bytes("image", "x.jpg", img).field("annotation", meta.encode())
        .post(base + "/annotations");
    assertEquals(201, r.status(), r.body());
    assertEquals(ContentId.of(img), r.json().getString("id"));
    assertEquals("bus", r.json().getJsonArray("detections").getJsonObject(0).getString("label"));
    assertEquals("frame.jpg", r.json().getString("name"), "the name field wins over the part's file name");
  }

  @Test
  void createFromUploadedMediaUsesTheMediaImage() throws Exception {
    byte[] img = image();
    Http.Response media = new Http.Multipart().token(ANN).bytes("file", "m.jpg", img).field("waypointId", "wp-9")
        .post(base + "/media");
    assertEquals(201, media.status(), media.body());
    String mediaId = media.json().getString("id");
    assertEquals("Image", media.json().getString("mediaType"));
    JsonObject body = new JsonObject().put("MediaId", mediaId).put("detections", new JsonArray()
        .add(detection(5, "boat", 0.6, 0.6)));
    Http.Response r = create(base, ANN, body);
    assertEquals(201, r.status(), r.body());
    assertEquals(mediaId, r.json().getString("id"));
    assertEquals("wp-9", r.json().getString("waypointId"), "the waypoint comes from the media row");
    assertEquals(200, Http.bytes(base + "/annotations/" + mediaId + "/thumbnail", ANN).statusCode());
  }

  @Test
  void badCreateRequestsAnswer400Or404WithCodes() throws Exception {
    Http.Response neither = create(base, ANN, new JsonObject().put("detections", new JsonArray()));
    assertEquals(400, neither.status());
    assertEquals("INVALID_REQUEST", neither.json().getString("code"));

    Http.Response unknownMedia = create(base, ANN, new JsonObject().put("mediaId", "0".repeat(32)));
    assertEquals(404, unknownMedia.status());
    assertEquals("MEDIA_NOT_FOUND", unknownMedia.json().getString("code"));

    Http.Response notBase64 = create(base, ANN, new JsonObject().put("image", "%%%not base64%%%"));
    assertEquals(400, notBase64.status());

    Http.Response notImage = create(base, ANN, new JsonObject().put("image",
        java.util.Base64.getEncoder().encodeToString("hello, not an image".getBytes())));
    assertEquals(400, notImage.status());
    assertEquals("INVALID_FORMAT", notImage.json().getString("code"));

    Http.Response badBox = create(base, ANN, request(image(), "f", detection(1, "x", 1.5, 0.5)
        .put("width", -1)));
    assertEquals(400, badBox.status());
    JsonArray errors = badBox.json().getJsonArray("errors");
    assertEquals("detections[0].centerX", errors.getJsonObject(0).getString("field"));
    assertEquals(2, errors.size());

    Http.Response notJson = Http.json("POST", base + "/annotations", ANN, "{oops");
    assertEquals(400, notJson.status());
    assertEquals(0, service.count("SELECT count(*) FROM annotations WHERE flight_id = 'f' AND name = 'never'"));
    try (var w = Files.list(service.storage().resolve("annotations/images/.staging"))) {
      assertEquals(0, w.count(), "refused creates leave no staged files");
    }
  }

  /** The first entry of a 400's errors[]: its field; the answer must be INVALID_REQUEST. */
  private static String badField(Http.Response r) {
    assertEquals(400, r.status(), r.body());
    assertEquals("INVALID_REQUEST", r.json().getString("code"), r.body());
    return r.json().getJsonArray("errors").getJsonObject(0).getString("field");
  }

  @Test
  void requestsThatBreakTheOpenApiSchemasAnswer400NamingTheField() throws Exception {
    String id = created(image(), "flight-contract").getString("id");
    assertEquals("status", badField(Http.json("PATCH", base + "/dataset/" + id + "/status", DATASET,
        new JsonObject().put("status", new JsonArray().add("Validated")))));
    assertEquals("annotationIds", badField(Http.json("POST", base + "/dataset/bulk-status", DATASET,
        new JsonObject().put("annotationIds", id).put("status", "Validated"))));
    assertEquals("status[1]", badField(Http.get(base + "/annotations?status=Validated,Shiny", ANN)));
    assertEquals("pageSize", badField(Http.get(base + "/annotations?PageSize=many", ANN)));
    assertEquals("detections[0].classNum", badField(Http.json("PUT", base + "/annotations/" + id, ANN,
        new JsonObject().put("detections", new JsonArray().add(detection(1, "x", 0.5, 0.5).put("classNum", "1"))))));
    assertEquals("purge", badField(Http.json("DELETE", base + "/annotations/" + id + "?purge=yes", ADMIN, null)));
    assertEquals("Created", Http.get(base + "/annotations/" + id, ANN).json().getString("status"),
        "nothing was changed by the refused requests");
    assertEquals(404, Http.get(base + "/annotations/" + id.toUpperCase(java.util.Locale.ROOT), ANN).status(),
        "a path id that breaks its pattern is not found, as before");

    // Names and enum values in any case, and fields the schema does not name, are accepted.
    Http.Response upper = Http.json("PATCH", base + "/dataset/" + id + "/status", DATASET,
        new JsonObject().put("STATUS", "validated").put("reason", "an extra field"));
    assertEquals(200, upper.status(), upper.body());
    assertEquals("Validated", upper.json().getString("status"));
    Http.Response extra = create(base, ANN, request(image(), "flight-contract", detection(2, "car", 0.5, 0.5)
        .put("trackId", 7)).put("detectorVersion", "v9"));
    assertEquals(201, extra.status(), extra.body());
  }

  @Test
  void listingFiltersPaginatesInStableOrderAndCountsTotal() throws Exception {
    String flight = "flight-list";
    for (int i = 0; i < 5; i++) {
      Http.Response r = create(base, ANN, request(image(), flight, detection(i % 2 == 0 ? 7 : 8, "c", 0.5, 0.5)));
      assertEquals(201, r.status());
    }
    Http.Response page1 = Http.get(base + "/annotations?flightId=" + flight + "&page=1&pageSize=2", ANN);
    assertEquals(200, page1.status());
    JsonObject p1 = page1.json();
    assertEquals(5, p1.getInteger("totalCount"));
    assertEquals(2, p1.getJsonArray("items").size());
    assertEquals(1, p1.getInteger("page"));
    assertEquals(2, p1.getInteger("pageSize"));
    // ASP.NET binds query parameters case-insensitively; so does Osprey.
    JsonObject p3 = Http.get(base + "/annotations?FlightId=" + flight + "&Page=3&PageSize=2", ANN).json();
    assertEquals(1, p3.getJsonArray("items").size());
    JsonObject all = Http.get(base + "/annotations?flightId=" + flight + "&pageSize=5", ANN).json();
    List<String> order = all.getJsonArray("items").stream().map(o -> ((JsonObject) o).getString("id")).toList();
    List<String> paged = new java.util.ArrayList<>();
    for (int page = 1; page <= 3; page++) {
      Http.get(base + "/annotations?flightId=" + flight + "&pageSize=2&page=" + page, ANN).json()
          .getJsonArray("items").forEach(o -> paged.add(((JsonObject) o).getString("id")));
    }
    assertEquals(order, paged, "pages concatenate to the full listing: a stable order");

    JsonObject cls = Http.get(base + "/annotations?flightId=" + flight + "&classNum=7", ANN).json();
    assertEquals(3, cls.getInteger("totalCount"));
    JsonObject future = Http.get(base + "/annotations?flightId=" + flight + "&from=2999-01-01T00:00:00Z", ANN).json();
    assertEquals(0, future.getInteger("totalCount"));
    JsonObject past = Http.get(base + "/annotations?flightId=" + flight + "&to=2999-01-01", ANN).json();
    assertEquals(5, past.getInteger("totalCount"));
    JsonObject validated = Http.get(base + "/annotations?flightId=" + flight + "&status=Validated", ANN).json();
    assertEquals(0, validated.getInteger("totalCount"));
    JsonObject created = Http.get(base + "/annotations?flightId=" + flight + "&status=10", ANN).json();
    assertEquals(5, created.getInteger("totalCount"));
    JsonObject ai = Http.get(base + "/annotations?flightId=" + flight + "&source=ai", ANN).json();
    assertEquals(5, ai.getInteger("totalCount"), "source is matched in any case");
    JsonObject manual = Http.get(base + "/annotations?flightId=" + flight + "&source=Manual", ANN).json();
    assertEquals(0, manual.getInteger("totalCount"));

    assertEquals(400, Http.get(base + "/annotations?pageSize=0", ANN).status());
    assertEquals(400, Http.get(base + "/annotations?status=Shiny", ANN).status());
    assertEquals(400, Http.get(base + "/annotations?from=yesterday", ANN).status());
    assertEquals(400, Http.get(base + "/annotations?source=robot", ANN).status());
    assertEquals(200, Http.get(base + "/annotations", DATASET).status(), "dataset curators read annotations too");
  }

  @Test
  void editReplacesDetectionsSetsEditedAndRewritesTheLabel() throws Exception {
    JsonObject a = created(image(), "flight-edit");
    String id = a.getString("id");
    nextEvent(id);
    Http.Response r = Http.json("PUT", base + "/annotations/" + id, ANN, new JsonObject()
        .put("detections", new JsonArray().add(detection(4, "van", 0.1, 0.2))));
    assertEquals(200, r.status(), r.body());
    assertEquals("Edited", r.json().getString("status"));
    assertEquals(1, r.json().getJsonArray("detections").size());
    assertEquals("4 0.100000 0.200000 0.100000 0.080000\n", Files.readString(service.storage()
        .resolve("annotations/labels").resolve(id + ".txt")));
    assertEquals(List.of("Created", "Edited"), outbox(id).stream().map(o -> o.getString("_operation")).toList());
    assertEquals("Edited", nextEvent(id, "Edited").getString("status"));
    assertEquals(400, Http.json("PUT", base + "/annotations/" + id, ANN, new JsonObject()).status());
    assertEquals(404, Http.json("PUT", base + "/annotations/" + "f".repeat(32), ANN, new JsonObject()
        .put("detections", new JsonArray())).status());
  }

  @Test
  void deleteIsSoftAndPurgeNeedsAdmAndRemovesFiles() throws Exception {
    JsonObject a = created(image(), "flight-delete");
    String id = a.getString("id");
    assertEquals(204, Http.json("DELETE", base + "/annotations/" + id, ANN, null).status());
    assertEquals("Deleted", Http.get(base + "/annotations/" + id, ANN).json().getString("status"));
    assertEquals(0, Http.get(base + "/annotations?flightId=flight-delete", ANN).json().getInteger("totalCount"));
    assertEquals(1, Http.get(base + "/annotations?flightId=flight-delete&status=Deleted", ANN).json()
        .getInteger("totalCount"));
    assertEquals(204, Http.json("DELETE", base + "/annotations/" + id, ANN, null).status(), "idempotent");
    assertEquals(List.of("Created", "Deleted"), outbox(id).stream().map(o -> o.getString("_operation")).toList());

    assertEquals(403, Http.json("DELETE", base + "/annotations/" + id + "?purge=true", ANN, null).status());
    assertEquals(204, Http.json("DELETE", base + "/annotations/" + id + "?purge=true", ADMIN, null).status());
    assertEquals(404, Http.get(base + "/annotations/" + id, ANN).status());
    assertFalse(Files.exists(service.storage().resolve("annotations/labels").resolve(id + ".txt")));
    assertFalse(Files.exists(service.storage().resolve("annotations/thumbnails").resolve(id + ".jpg")));
    assertEquals(404, Http.json("DELETE", base + "/annotations/" + id, ANN, null).status());
  }

  @Test
  void datasetStatusSingleAndBulk() throws Exception {
    String one = created(image(), "flight-ds").getString("id");
    String two = created(image(), "flight-ds").getString("id");
    Http.Response single = Http.json("PATCH", base + "/dataset/" + one + "/status", DATASET,
        new JsonObject().put("status", "Validated"));
    assertEquals(200, single.status(), single.body());
    assertEquals("Validated", Http.get(base + "/annotations/" + one, ANN).json().getString("status"));
    assertEquals("Validated", outbox(one).get(1).getString("_operation"));

    assertEquals(404, Http.json("PATCH", base + "/dataset/" + "e".repeat(32) + "/status", DATASET,
        new JsonObject().put("status", 30)).status());
    Http.Response badStatus = Http.json("PATCH", base + "/dataset/" + one + "/status", DATASET,
        new JsonObject().put("status", "Shiny"));
    assertEquals(400, badStatus.status());

    Http.Response empty = Http.json("POST", base + "/dataset/bulk-status", DATASET,
        new JsonObject().put("annotationIds", new JsonArray()).put("status", "Validated"));
    assertEquals(400, empty.status());
    assertEquals("INVALID_REQUEST", empty.json().getString("code"));

    String unknown = "d".repeat(32);
    long before = service.count("SELECT count(*) FROM annotation_outbox");
    Http.Response bulk = Http.json("POST", base + "/dataset/bulk-status", DATASET, new JsonObject()
        .put("AnnotationIds", new JsonArray().add(one).add(two).add(unknown)).put("Status", 40));
    assertEquals(200, bulk.status(), bulk.body());
    assertEquals(2, bulk.json().getInteger("updated"));
    assertEquals(new JsonArray().add(unknown), bulk.json().getJsonArray("notFound"));
    assertEquals(before + 1, service.count("SELECT count(*) FROM annotation_outbox"), "one outbox row per bulk");
    assertEquals(2, service.count("SELECT count(*) FROM annotations WHERE id IN ('" + one + "', '" + two
        + "') AND status = 40"));
    assertEquals("Deleted", nextEvent(two, "Deleted").getString("status"));
    assertEquals(403, Http.json("POST", base + "/dataset/bulk-status", ANN, new JsonObject()
        .put("annotationIds", new JsonArray().add(one)).put("status", 30)).status());
  }

  @Test
  void mediaBatchIsAllOrNothingAndDeduplicatesByContent() throws Exception {
    byte[] a = image();
    byte[] b = image();
    Http.Response batch = new Http.Multipart().token(ANN).field("waypointId", "wp-batch")
        .bytes("files", "a.jpg", a).bytes("files", "b.jpg", b).post(base + "/media/batch");
    assertEquals(201, batch.status(), batch.body());
    JsonArray items = new JsonArray(batch.body());
    assertEquals(2, items.size());
    assertEquals("wp-batch", items.getJsonObject(0).getString("waypointId"));
    assertEquals(ContentId.of(a), items.getJsonObject(0).getString("id"));

    long media = service.count("SELECT count(*) FROM media");
    Http.Response bad = new Http.Multipart().token(ANN).field("waypointId", "wp-batch")
        .bytes("files", "c.jpg", image()).bytes("files", "evil.exe", "MZ not media".getBytes())
        .post(base + "/media/batch");
    assertEquals(400, bad.status());
    assertEquals("INVALID_FORMAT", bad.json().getString("code"));
    assertEquals(media, service.count("SELECT count(*) FROM media"), "a refused batch stores nothing");

    Http.Response again = new Http.Multipart().token(ANN).bytes("file", "a-again.jpg", a).post(base + "/media");
    assertEquals(201, again.status());
    assertEquals(ContentId.of(a), again.json().getString("id"));
    assertEquals(media, service.count("SELECT count(*) FROM media"));
    var file = Http.bytes(base + "/media/" + ContentId.of(a) + "/file", ANN);
    assertArrayEquals(a, file.body());
    assertEquals(404, Http.get(base + "/media/" + "c".repeat(32), ANN).status());
  }

  @Test
  void unknownAnnotationReadsAre404WithCode() throws Exception {
    Http.Response r = Http.get(base + "/annotations/" + "a".repeat(32), ANN);
    assertEquals(404, r.status());
    assertEquals("ANNOTATION_NOT_FOUND", r.json().getString("code"));
    assertEquals(404, Http.get(base + "/annotations/not-an-id/image", ANN).status());
    assertNull(r.json().getJsonArray("errors"));
  }
}
