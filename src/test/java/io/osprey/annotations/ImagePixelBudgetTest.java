package io.osprey.annotations;

import static io.osprey.annotations.Annotations.create;
import static io.osprey.annotations.Annotations.detection;
import static io.osprey.annotations.Annotations.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.ImageBombs;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, item 1: the pixel budget (images.max_pixels) on every route that takes images, checked from the header
 * before any decode; and an image whose header passes but whose pixels do not decode refused before anything is
 * committed. The service runs with a budget of 100x100 = 10000 pixels, so that exactly-at-limit images are small;
 * ImageBudgetTest proves the default (8192x8192).
 */
@IntegrationTest
class ImagePixelBudgetTest {
  private static final long LIMIT = 100 * 100;
  private static final String ANN = TestAuth.annotator();
  private static TestService service;
  private static String base;
  private static int unique;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(ImagePixelBudgetTest.class, Role.API, new JsonObject()
        .put("images", new JsonObject().put("max_pixels", LIMIT))
        // The reconciler runs only when a test asks it to, and then takes every pending row.
        .put("annotations", new JsonObject().put("reconcile_after_seconds", 0)
            .put("reconcile_interval_seconds", 86400)));
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /** PNG, JPEG and TIFF bombs: a few hundred bytes each, declaring 400 million and 10 billion pixels. */
  private static Map<String, byte[]> bombs() throws Exception {
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put("bomb.png", ImageBombs.png(20000, 20000));
    m.put("bomb.jpg", ImageBombs.jpeg(20000, 20000));
    m.put("bomb.tiff", ImageBombs.tiff(100_000, 100_000));
    return m;
  }

  private static String declared(String name) {
    return name.endsWith(".tiff") ? "100000x100000 = 10000000000 pixels" : "20000x20000 = 400000000 pixels";
  }

  /** A PNG of exactly {@code w x h} pixels with bytes of its own (a fresh content id). */
  private static byte[] png(int w, int h) throws Exception {
    return ImageBombs.withText(Fixtures.image("png", w, h), "n" + unique++);
  }

  private record Snapshot(long annotations, long media, long outbox, long uploads, long uploadedFiles,
                          List<String> files) {
  }

  private static Snapshot snapshot() throws Exception {
    return new Snapshot(service.count("SELECT count(*) FROM annotations"), service.count("SELECT count(*) FROM media"),
        service.count("SELECT count(*) FROM annotation_outbox"), service.count("SELECT count(*) FROM uploads"),
        service.count("SELECT count(*) FROM uploaded_files"), service.storedFiles());
  }

  /** No row in any table and, once the request's temp files are cleaned, no file anywhere in storage. */
  private static void assertNothingStored(Snapshot before, String what, Predicate<String> ignoredFiles)
      throws Exception {
    long end = System.currentTimeMillis() + 3000;
    Snapshot after = snapshot();
    while (!after.files().stream().filter(ignoredFiles.negate()).toList()
        .equals(before.files().stream().filter(ignoredFiles.negate()).toList())
        && System.currentTimeMillis() < end) {
      Thread.sleep(50);
      after = snapshot();
    }
    assertEquals(before.annotations(), after.annotations(), what + ": no annotation row");
    assertEquals(before.media(), after.media(), what + ": no media row");
    assertEquals(before.outbox(), after.outbox(), what + ": no outbox row");
    assertEquals(before.uploads(), after.uploads(), what + ": no upload row");
    assertEquals(before.uploadedFiles(), after.uploadedFiles(), what + ": no uploaded file row");
    assertEquals(before.files().stream().filter(ignoredFiles.negate()).toList(),
        after.files().stream().filter(ignoredFiles.negate()).toList(), what + ": no file left in storage");
  }

  private static void assertNothingStored(Snapshot before, String what) throws Exception {
    assertNothingStored(before, what, f -> false);
  }

  private static void assertRefused(Http.Response r, String code, String what) {
    assertEquals(400, r.status(), what + ": " + r.body());
    assertEquals(code, r.json().getString("code"), what + ": " + r.body());
    assertTrue(r.json().containsKey("request_id"), what + ": the one error shape");
  }

  private static String annotationJson() {
    return new JsonObject().put("flightId", "budget").put("detections",
        new JsonArray().add(detection(1, "car", 0.5, 0.5))).encode();
  }

  private static Http.Response annotationJson(byte[] image) throws Exception {
    return create(base, ANN, request(image, "budget", detection(1, "car", 0.5, 0.5)));
  }

  private static Http.Response annotationMultipart(String name, byte[] image) throws Exception {
    return new Http.Multipart().token(ANN).bytes("image", name, image).field("annotation", annotationJson())
        .post(base + "/annotations");
  }

  private static Http.Response media(String name, byte[] image) throws Exception {
    return new Http.Multipart().token(ANN).bytes("file", name, image).post(base + "/media");
  }

  private static Http.Response mediaJson(byte[] image) throws Exception {
    return Http.json("POST", base + "/media", ANN, new JsonObject().put("name", "m.png")
        .put("data", Base64.getEncoder().encodeToString(image)));
  }

  private static Http.Response mediaBatch(String name, byte[] image) throws Exception {
    // A good file first: the batch is all or nothing.
    return new Http.Multipart().token(ANN).bytes("files", "good.png", png(50, 50)).bytes("files", name, image)
        .field("waypointId", "wp-budget").post(base + "/media/batch");
  }

  private static Http.Response upload(String name, byte[] image) throws Exception {
    return new Http.Multipart().bytes("files", "good.png", Fixtures.image("png", 64, 64)).bytes("files", name, image)
        .post(base + "/api/v1/inference/upload");
  }

  @Test
  void bombsOnAnnotationsAsBase64JsonAreInvalidDimensionsAndStoreNothing() throws Exception {
    for (Map.Entry<String, byte[]> bomb : bombs().entrySet()) {
      Snapshot before = snapshot();
      Http.Response r = annotationJson(bomb.getValue());
      assertRefused(r, "INVALID_DIMENSIONS", bomb.getKey());
      assertTrue(r.json().getString("message").contains("Image declares " + declared(bomb.getKey())
          + "; the limit is 10000 (images.max_pixels)"), r.body());
      assertNothingStored(before, bomb.getKey());
    }
  }

  @Test
  void bombsOnAnnotationsAsMultipartAreInvalidDimensionsAndStoreNothing() throws Exception {
    for (Map.Entry<String, byte[]> bomb : bombs().entrySet()) {
      Snapshot before = snapshot();
      Http.Response r = annotationMultipart(bomb.getKey(), bomb.getValue());
      assertRefused(r, "INVALID_DIMENSIONS", bomb.getKey());
      assertTrue(r.json().getString("message").contains(declared(bomb.getKey())), r.body());
      assertNothingStored(before, bomb.getKey());
    }
  }

  @Test
  void bombsOnMediaAndMediaBatchAreInvalidDimensionsAndStoreNothing() throws Exception {
    for (Map.Entry<String, byte[]> bomb : bombs().entrySet()) {
      Snapshot before = snapshot();
      Http.Response single = media(bomb.getKey(), bomb.getValue());
      assertRefused(single, "INVALID_DIMENSIONS", "/media " + bomb.getKey());
      assertTrue(single.json().getString("message").contains(declared(bomb.getKey())), single.body());
      assertNothingStored(before, "/media " + bomb.getKey());

      Http.Response batch = mediaBatch(bomb.getKey(), bomb.getValue());
      assertRefused(batch, "INVALID_DIMENSIONS", "/media/batch " + bomb.getKey());
      assertEquals(bomb.getKey(), batch.json().getJsonArray("errors").getJsonObject(0).getString("file"));
      assertNothingStored(before, "/media/batch " + bomb.getKey());
    }
    Snapshot before = snapshot();
    assertRefused(mediaJson(ImageBombs.png(20000, 20000)), "INVALID_DIMENSIONS", "/media JSON");
    // The base64 body's own temp file is the request parsing's business (issue 14, item 2), not the budget's.
    assertNothingStored(before, "/media JSON", f -> f.startsWith("tmp/"));
  }

  @Test
  void bombsOnTheInferenceUploadAreInvalidDimensionsAndStoreNothing() throws Exception {
    for (Map.Entry<String, byte[]> bomb : bombs().entrySet()) {
      Snapshot before = snapshot();
      Http.Response r = upload(bomb.getKey(), bomb.getValue());
      assertRefused(r, "INVALID_DIMENSIONS", bomb.getKey());
      JsonObject error = r.json().getJsonArray("errors").getJsonObject(0);
      assertEquals(bomb.getKey(), error.getString("filename"));
      assertTrue(error.getString("message").contains("Image declares " + declared(bomb.getKey())), r.body());
      assertNothingStored(before, bomb.getKey());
    }
  }

  @Test
  void exactlyAtTheLimitPassesOnEveryRouteAndOnePixelMoreFails() throws Exception {
    assertEquals(201, annotationJson(png(100, 100)).status());
    assertEquals(201, annotationMultipart("a.png", png(100, 100)).status());
    assertEquals(201, media("m.png", png(100, 100)).status());
    assertEquals(201, mediaBatch("b.png", png(100, 100)).status());
    Http.Response uploaded = upload("u.png", png(100, 100));
    assertEquals(200, uploaded.status(), uploaded.body());

    Snapshot before = snapshot();
    assertRefused(annotationJson(png(101, 100)), "INVALID_DIMENSIONS", "annotation JSON 101x100");
    assertRefused(annotationMultipart("a.png", png(100, 101)), "INVALID_DIMENSIONS", "annotation multipart 100x101");
    assertRefused(media("m.png", png(101, 100)), "INVALID_DIMENSIONS", "media 101x100");
    assertRefused(mediaBatch("b.png", png(101, 100)), "INVALID_DIMENSIONS", "media batch 101x100");
    Http.Response r = upload("u.png", png(101, 100));
    assertRefused(r, "INVALID_DIMENSIONS", "upload 101x100");
    assertTrue(r.json().getJsonArray("errors").getJsonObject(0).getString("message")
        .contains("Image declares 101x100 = 10100 pixels; the limit is 10000 (images.max_pixels)"), r.body());
    assertNothingStored(before, "limit + 1");
  }

  @Test
  void imageWhoseHeaderPassesButWhosePixelsDoNotDecodeIsCorruptedFileAndLeavesNoRow() throws Exception {
    byte[] cut = ImageBombs.undecodablePng(80, 60);
    Snapshot before = snapshot();
    assertRefused(annotationJson(cut), "CORRUPTED_FILE", "annotation JSON");
    assertNothingStored(before, "annotation JSON");
    assertRefused(annotationMultipart("cut.png", cut), "CORRUPTED_FILE", "annotation multipart");
    assertNothingStored(before, "annotation multipart");
    assertRefused(media("cut.png", cut), "CORRUPTED_FILE", "media");
    assertRefused(mediaBatch("cut.png", cut), "CORRUPTED_FILE", "media batch");
    assertNothingStored(before, "media");
    Path staging = service.storage().resolve("annotations/images/.staging");
    assertTrue(!Files.isDirectory(staging) || Files.list(staging).findAny().isEmpty(), "no staged image");
  }

  @Test
  void annotationFromAStoredMediaOverTheBudgetIsRefusedBeforeCommit() throws Exception {
    // Media stored before the budget existed: a bomb in the media folder with its row.
    Path file = service.storage().resolve("annotations/images/legacy-bomb.png");
    Files.createDirectories(file.getParent());
    Files.write(file, ImageBombs.png(20000, 20000));
    String id = "0123456789abcdef0123456789abcdef";
    try (var c = service.jdbc(); var s = c.prepareStatement("INSERT INTO media (id, name, media_type, format,"
        + " size_bytes, width, height, path, files_state, created_by) VALUES (?, 'legacy.png', 'Image', 'PNG', 1,"
        + " 20000, 20000, ?, 'complete', 'test')")) {
      s.setString(1, id);
      s.setString(2, file.toString());
      s.executeUpdate();
    }
    Snapshot before = snapshot();
    Http.Response r = create(base, ANN, new JsonObject().put("mediaId", id).put("detections",
        new JsonArray().add(detection(1, "car", 0.5, 0.5))));
    assertRefused(r, "INVALID_DIMENSIONS", "annotation of a legacy media");
    assertNothingStored(before, "annotation of a legacy media");
  }

  @Test
  void pendingAnnotationWhoseStoredImageIsOverTheBudgetIsFlaggedMissingInsteadOfRetriedForever() throws Exception {
    // A row committed before the budget existed, whose thumbnail could never be made.
    String id = "fedcba9876543210fedcba9876543210";
    Path image = service.storage().resolve("annotations/images/" + id + ".png");
    Files.createDirectories(image.getParent());
    Files.write(image, ImageBombs.png(20000, 20000));
    try (var c = service.jdbc(); var s = c.createStatement()) {
      s.executeUpdate("INSERT INTO media (id, name, media_type, format, size_bytes, width, height, path, files_state,"
          + " created_by) VALUES ('" + id + "', 'old.png', 'Image', 'PNG', 1, 20000, 20000, '" + image
          + "', 'complete', 'test')");
      s.executeUpdate("INSERT INTO annotations (id, media_id, name, source, status, image_format, width, height,"
          + " files_state, created_by) VALUES ('" + id + "', '" + id + "', 'old.png', 'AI', 10, 'png', 20000, 20000,"
          + " 'pending', 'test')");
    }
    service.app().reconciler().runOnce().toCompletionStage().toCompletableFuture()
        .get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertEquals(1, service.count("SELECT count(*) FROM annotations WHERE id = '" + id
        + "' AND files_state = 'missing'"), "flagged once, so no reconciler pass tries it again");
    assertTrue(!Files.exists(service.storage().resolve("annotations/thumbnails/" + id + ".jpg")));
  }
}
