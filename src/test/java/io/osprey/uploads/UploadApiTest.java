package io.osprey.uploads;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spec's "File Upload Workflow" through HTTP against real PostgreSQL and a real storage folder. */
@IntegrationTest
class UploadApiTest {
  private static TestService service;
  private static String url;

  @TempDir
  Path work;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(UploadApiTest.class);
    url = service.baseUrl() + "/api/v1/inference/upload";
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /** Every test that fails an upload also proves the all-or-nothing rule: no row, no file, no temp left. */
  @AfterEach
  void nothingHalfStored() throws Exception {
    // temp clean-up runs right after the answer, on a worker thread.
    Await.until("no temp files left behind", Duration.ofSeconds(5),
        () -> service.storedFiles().stream().filter(p -> p.startsWith("tmp/")).toList(), List::isEmpty);
  }

  private static void assertNothingStoredSince(long uploadsBefore, long filesBefore, List<String> diskBefore)
      throws Exception {
    assertEquals(uploadsBefore, service.count("SELECT count(*) FROM uploads"), "upload rows");
    assertEquals(filesBefore, service.count("SELECT count(*) FROM uploaded_files"), "file rows");
    List<String> now = service.storedFiles().stream().filter(p -> p.startsWith("uploads/")).toList();
    assertEquals(diskBefore, now, "stored files");
  }

  private static List<String> uploadedOnDisk() throws Exception {
    return service.storedFiles().stream().filter(p -> p.startsWith("uploads/")).toList();
  }

  private static JsonObject onlyError(Http.Response r) {
    JsonArray errors = r.json().getJsonArray("errors");
    assertNotNull(errors, r.body());
    assertEquals(1, errors.size(), r.body());
    return errors.getJsonObject(0);
  }

  @Test
  void validJpegPngAndTiffAreStoredWithTheirMetadata() throws Exception {
    byte[] tiff = Fixtures.image("tiff", 640, 480);
    byte[] png = Fixtures.image("png", 64, 8192);
    byte[] jpeg = Fixtures.image("jpeg", 8192, 64);
    Http.Response r = new Http.Multipart()
        .bytes("files", "survey.tiff", tiff)
        .bytes("files", "strip.png", png)
        .bytes("files", "wide.JPG", jpeg)
        .post(url);
    assertEquals(200, r.status(), r.body());
    JsonObject body = r.json();
    String uploadId = body.getString("upload_id");
    assertEquals(uploadId, UUID.fromString(uploadId).toString());
    assertEquals(3, body.getInteger("file_count"));
    assertEquals((long) tiff.length + png.length + jpeg.length, body.getLong("total_size_bytes"));
    JsonArray files = body.getJsonArray("files");
    assertEquals(List.of("survey.tiff", "strip.png", "wide.JPG"),
        files.stream().map(f -> ((JsonObject) f).getString("filename")).toList());
    assertEquals(List.of("TIFF", "PNG", "JPEG"),
        files.stream().map(f -> ((JsonObject) f).getString("format")).toList());
    JsonObject first = files.getJsonObject(0);
    assertEquals(640, first.getJsonObject("dimensions").getInteger("width"));
    assertEquals(480, first.getJsonObject("dimensions").getInteger("height"));
    assertEquals(tiff.length, first.getLong("size_bytes"));
    byte[][] sent = {tiff, png, jpeg};
    String[] ext = {"tiff", "png", "jpg"};
    for (int i = 0; i < 3; i++) {
      JsonObject f = files.getJsonObject(i);
      String expectedPath = "uploads/" + uploadId + "/" + f.getString("file_id") + "." + ext[i];
      assertEquals(expectedPath, f.getString("storage_path"));
      assertArrayEquals(sent[i], Files.readAllBytes(service.storage().resolve(expectedPath)));
    }
    try (var c = service.jdbc(); var s = c.prepareStatement(
        "SELECT filename, size_bytes, width, height, format, storage_path FROM uploaded_files"
            + " WHERE upload_id = ?::uuid ORDER BY position")) {
      s.setString(1, uploadId);
      try (var rs = s.executeQuery()) {
        assertTrue(rs.next());
        assertEquals("survey.tiff", rs.getString(1));
        assertEquals(tiff.length, rs.getLong(2));
        assertEquals(640, rs.getInt(3));
        assertEquals(480, rs.getInt(4));
        assertEquals("TIFF", rs.getString(5));
        assertTrue(rs.next());
        assertEquals(64, rs.getInt(3));
        assertEquals(8192, rs.getInt(4));
        assertTrue(rs.next());
        assertEquals("JPEG", rs.getString(5));
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void hundredRealAerialImagesAreAcceptedInOneUpload() throws Exception {
    List<Path> real = Fixtures.realImages();
    Http.Multipart form = new Http.Multipart();
    for (int i = 0; i < 100; i++) {
      Path image = real.get(i % real.size());
      form.file("files", i + "_" + image.getFileName(), image);
    }
    Http.Response r = form.post(url);
    assertEquals(200, r.status(), r.body());
    JsonObject body = r.json();
    assertEquals(100, body.getJsonArray("files").size());
    assertEquals(100, service.count("SELECT count(*) FROM uploaded_files WHERE upload_id = '"
        + body.getString("upload_id") + "'"));
    for (int i = 0; i < 100; i++) {
      JsonObject f = body.getJsonArray("files").getJsonObject(i);
      Path original = real.get(i % real.size());
      assertEquals(i + "_" + original.getFileName(), f.getString("filename"));
      assertEquals(Files.size(original), f.getLong("size_bytes"));
      java.awt.image.BufferedImage decoded = javax.imageio.ImageIO.read(original.toFile());
      assertEquals(decoded.getWidth(), f.getJsonObject("dimensions").getInteger("width"));
      assertEquals(decoded.getHeight(), f.getJsonObject("dimensions").getInteger("height"));
      assertArrayEquals(Files.readAllBytes(original),
          Files.readAllBytes(service.storage().resolve(f.getString("storage_path"))));
    }
  }

  @Test
  void unsupportedFormatIsInvalidFormatAndNothingIsStored() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    long files = service.count("SELECT count(*) FROM uploaded_files");
    List<String> disk = uploadedOnDisk();
    Http.Response r = new Http.Multipart()
        .bytes("files", "good.png", Fixtures.image("png", 100, 100))
        .bytes("files", "anim.gif", Fixtures.image("gif", 100, 100))
        .bytes("files", "notes.txt", "hello".getBytes())
        .bytes("files", "liar.jpg", Fixtures.image("png", 100, 100))
        .post(url);
    assertEquals(400, r.status(), r.body());
    JsonObject body = r.json();
    assertEquals("INVALID_FORMAT", body.getString("code"));
    assertEquals("INVALID_FORMAT", body.getJsonObject("error").getString("code"));
    JsonArray errors = body.getJsonArray("errors");
    assertEquals(3, errors.size(), r.body());
    assertEquals(List.of(1, 2, 3), errors.stream().map(e -> ((JsonObject) e).getInteger("index")).toList());
    assertEquals(List.of("anim.gif", "notes.txt", "liar.jpg"),
        errors.stream().map(e -> ((JsonObject) e).getString("filename")).toList());
    errors.forEach(e -> assertEquals("INVALID_FORMAT", ((JsonObject) e).getString("code")));
    assertTrue(errors.getJsonObject(0).getString("message").startsWith("Only JPEG, PNG, TIFF allowed"));
    assertEquals("files[1]", errors.getJsonObject(0).getString("field"));
    assertNotNull(body.getString("request_id"));
    assertNothingStoredSince(uploads, files, disk);
  }

  @Test
  void fileOverFiftyMegabytesIsFileTooLarge() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    List<String> disk = uploadedOnDisk();
    Path big = work.resolve("big.png");
    byte[] png = Fixtures.image("png", 100, 100);
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.write(png);
      f.setLength(50L * 1024 * 1024 + 1);
    }
    Path exact = work.resolve("exact.png");
    Files.copy(big, exact);
    try (RandomAccessFile f = new RandomAccessFile(exact.toFile(), "rw")) {
      f.setLength(50L * 1024 * 1024);
    }
    Http.Response r = new Http.Multipart()
        .file("files", "exact.png", exact)
        .file("files", "big.png", big)
        .post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("FILE_TOO_LARGE", r.json().getString("code"));
    JsonArray errors = r.json().getJsonArray("errors");
    // Exactly 50 MB (a PNG padded after IEND, which readers ignore) is within the limit: only the larger one fails.
    assertEquals(1, errors.size(), r.body());
    assertEquals("big.png", errors.getJsonObject(0).getString("filename"));
    assertTrue(errors.getJsonObject(0).getString("message").startsWith("File exceeds 50MB limit"));
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"));
    assertEquals(disk, uploadedOnDisk());
  }

  @Test
  void moreThanHundredFilesIsTooManyFiles() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    List<String> disk = uploadedOnDisk();
    byte[] png = Fixtures.image("png", 64, 64);
    Http.Multipart form = new Http.Multipart();
    for (int i = 0; i < 101; i++) {
      form.bytes("files", "tile" + i + ".png", png);
    }
    Http.Response r = form.post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("TOO_MANY_FILES", r.json().getString("code"));
    assertTrue(r.json().getString("message").startsWith("Maximum 100 files per upload"), r.body());
    assertEquals(101, r.json().getJsonObject("details").getInteger("received"));
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"));
    assertEquals(disk, uploadedOnDisk());
  }

  @Test
  void imagesOutside64To8192PixelsAreInvalidDimensions() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    List<String> disk = uploadedOnDisk();
    Http.Response r = new Http.Multipart()
        .bytes("files", "ok.png", Fixtures.image("png", 64, 64))
        .bytes("files", "small.png", Fixtures.image("png", 63, 200))
        .bytes("files", "wide.png", Fixtures.image("png", 8193, 64))
        .bytes("files", "tiny.jpg", Fixtures.image("jpeg", 32, 32))
        .post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("INVALID_DIMENSIONS", r.json().getString("code"));
    JsonArray errors = r.json().getJsonArray("errors");
    assertEquals(List.of("small.png", "wide.png", "tiny.jpg"),
        errors.stream().map(e -> ((JsonObject) e).getString("filename")).toList());
    assertTrue(errors.getJsonObject(1).getString("message").contains("8193x64"), r.body());
    assertTrue(errors.getJsonObject(0).getString("message").startsWith("Image must be 64x64 to 8192x8192"));
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"));
    assertEquals(disk, uploadedOnDisk());
  }

  @Test
  void truncatedOrDamagedImagesAreCorruptedFile() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    List<String> disk = uploadedOnDisk();
    byte[] jpeg = Fixtures.image("jpeg", 300, 200);
    byte[] png = Fixtures.image("png", 300, 200);
    byte[] damagedPng = png.clone();
    damagedPng[png.length / 2] ^= 0x5A;
    Http.Response r = new Http.Multipart()
        .bytes("files", "half.jpg", Arrays.copyOf(jpeg, jpeg.length / 2))
        .bytes("files", "flipped.png", damagedPng)
        .bytes("files", "fine.png", png)
        .post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("CORRUPTED_FILE", r.json().getString("code"));
    JsonArray errors = r.json().getJsonArray("errors");
    assertEquals(List.of("half.jpg", "flipped.png"),
        errors.stream().map(e -> ((JsonObject) e).getString("filename")).toList());
    assertTrue(errors.getJsonObject(0).getString("message").startsWith("Unable to read image file"));
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"));
    assertEquals(disk, uploadedOnDisk());
  }

  @Test
  void mixedFailuresListEveryBadFileAndTheFirstCode() throws Exception {
    Http.Response r = new Http.Multipart()
        .bytes("files", "small.png", Fixtures.image("png", 10, 10))
        .bytes("files", "doc.pdf", "%PDF-1.4".getBytes())
        .post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("INVALID_DIMENSIONS", r.json().getString("code"));
    assertEquals(List.of("INVALID_DIMENSIONS", "INVALID_FORMAT"), r.json().getJsonArray("errors").stream()
        .map(e -> ((JsonObject) e).getString("code")).toList());
  }

  @Test
  void filenamesWithPathPartsNeverEscapeTheStorageRoot() throws Exception {
    Path outside = service.storage().getParent().resolve("evil.png");
    Files.deleteIfExists(outside);
    byte[] png = Fixtures.image("png", 80, 80);
    Http.Response r = new Http.Multipart()
        .bytes("files", "../evil.png", png)
        .bytes("files", "../../../../../../tmp/evil.png", png)
        .bytes("files", "..\\..\\windows\\evil.png", png)
        .bytes("files", "/etc/evil.png", png)
        .post(url);
    assertEquals(200, r.status(), r.body());
    JsonArray files = r.json().getJsonArray("files");
    files.forEach(f -> {
      JsonObject file = (JsonObject) f;
      assertEquals("evil.png", file.getString("filename"));
      Path stored = service.storage().resolve(file.getString("storage_path")).normalize();
      assertTrue(stored.startsWith(service.storage().resolve("uploads")), stored.toString());
      assertTrue(Files.exists(stored));
    });
    assertFalse(Files.exists(outside));
  }

  @Test
  void uploadWithoutFilesIsNoFiles() throws Exception {
    Http.Response r = new Http.Multipart().field("note", "no images here").post(url);
    assertEquals(400, r.status(), r.body());
    assertEquals("NO_FILES", r.json().getString("code"));
  }

  @Test
  void nonMultipartBodyIsUnsupportedMediaType() throws Exception {
    Http.Response r = Http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url))
        .header("Content-Type", "application/json")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"files\":[]}"))
        .build());
    assertEquals(415, r.status(), r.body());
    assertEquals("UNSUPPORTED_MEDIA_TYPE", r.json().getString("code"));
  }

  @Test
  void fullStorageIsStorageErrorAndLeavesNoFiles() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    Path uploadsDir = service.storage().resolve("uploads");
    Path aside = service.storage().resolve("uploads-aside");
    boolean existed = Files.exists(uploadsDir);
    if (existed) {
      Files.move(uploadsDir, aside);
    }
    // A plain file where the uploads folder should be makes every folder creation fail, as a full or read-only
    // disk would (tests run as root, so permissions cannot be used).
    Files.writeString(uploadsDir, "not a folder");
    try {
      Http.Response r = new Http.Multipart()
          .bytes("files", "a.png", Fixtures.image("png", 100, 100))
          .bytes("files", "b.png", Fixtures.image("png", 100, 100))
          .post(url);
      assertEquals(500, r.status(), r.body());
      assertEquals("STORAGE_ERROR", r.json().getString("code"));
      assertEquals("Server storage unavailable", r.json().getString("message"));
    } finally {
      Files.delete(uploadsDir);
      if (existed) {
        Files.move(aside, uploadsDir);
      }
    }
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"));
  }

  @Test
  void databaseFailureIsDatabaseErrorAndRemovesTheStoredFiles() throws Exception {
    long uploads = service.count("SELECT count(*) FROM uploads");
    List<String> disk = uploadedOnDisk();
    try (var c = service.jdbc(); var s = c.createStatement()) {
      s.execute("ALTER TABLE uploaded_files RENAME TO uploaded_files_unavailable");
    }
    Http.Response r;
    try {
      r = new Http.Multipart()
          .bytes("files", "a.png", Fixtures.image("png", 100, 100))
          .post(url);
    } finally {
      try (var c = service.jdbc(); var s = c.createStatement()) {
        s.execute("ALTER TABLE uploaded_files_unavailable RENAME TO uploaded_files");
      }
    }
    assertEquals(500, r.status(), r.body());
    assertEquals("DATABASE_ERROR", r.json().getString("code"));
    assertEquals("Unable to save metadata", r.json().getString("message"));
    assertEquals(uploads, service.count("SELECT count(*) FROM uploads"), "the uploads row was rolled back");
    Await.until("files of the failed upload were removed", Duration.ofSeconds(5), UploadApiTest::uploadedOnDisk,
        disk::equals);
  }

  @Test
  void errorBodiesCarryTheCallersRequestId() throws Exception {
    Http.Response r = Http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url))
        .header("Content-Type", "text/plain")
        .header("X-Request-Id", "client-42")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("x"))
        .build());
    assertEquals("client-42", r.header("X-Request-Id"));
    assertEquals("client-42", r.json().getString("request_id"));
  }
}
