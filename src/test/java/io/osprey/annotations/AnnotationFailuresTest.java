package io.osprey.annotations;

import static io.osprey.annotations.Annotations.create;
import static io.osprey.annotations.Annotations.detection;
import static io.osprey.annotations.Annotations.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The spec's 500 rows (filesystem and database failures) and the missing-file 404, each leaving nothing behind. */
@IntegrationTest
class AnnotationFailuresTest {
  private static TestService service;
  private static String base;
  private static final String ANN = TestAuth.annotator();

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(AnnotationFailuresTest.class);
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static long staged() throws Exception {
    Path dir = service.storage().resolve("annotations/images/.staging");
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.count();
    }
  }

  @Test
  void unwritableImageFolderIs500StorageErrorAndStoresNothing() throws Exception {
    Path images = service.storage().resolve("annotations/images");
    Files.createDirectories(images.getParent());
    Path aside = images.resolveSibling("images.aside");
    if (Files.exists(images)) {
      Files.move(images, aside);
    }
    Files.writeString(images, "a file where the images folder should be");
    try {
      Http.Response r = create(base, ANN, request(Fixtures.uniqueJpeg(1), "fs", detection(1, "car", 0.5, 0.5)));
      assertEquals(500, r.status(), r.body());
      assertEquals("STORAGE_ERROR", r.json().getString("code"));
      assertEquals(0, service.count("SELECT count(*) FROM annotations"));
      assertEquals(0, service.count("SELECT count(*) FROM annotation_outbox"));
    } finally {
      Files.delete(images);
      if (Files.exists(aside)) {
        Files.move(aside, images);
      }
    }
  }

  @Test
  void databaseFailureIs500DatabaseErrorAndRemovesTheStagedImage() throws Exception {
    try (var c = service.jdbc(); var s = c.createStatement()) {
      s.execute("ALTER TABLE annotation_outbox RENAME TO annotation_outbox_away");
    }
    try {
      Http.Response r = create(base, ANN, request(Fixtures.uniqueJpeg(2), "db", detection(1, "car", 0.5, 0.5)));
      assertEquals(500, r.status(), r.body());
      assertEquals("DATABASE_ERROR", r.json().getString("code"));
      assertTrue(r.json().getString("message").contains(r.json().getString("request_id")));
      assertEquals(0, service.count("SELECT count(*) FROM annotations WHERE flight_id = 'db'"),
          "the annotation row rolled back with the failed outbox insert");
      assertEquals(0, staged(), "the staged image was removed");
    } finally {
      try (var c = service.jdbc(); var s = c.createStatement()) {
        s.execute("ALTER TABLE annotation_outbox_away RENAME TO annotation_outbox");
      }
    }
  }

  @Test
  void missingThumbnailFileIs404FileNotFound() throws Exception {
    Http.Response r = create(base, ANN, request(Fixtures.uniqueJpeg(3), "gone", detection(1, "car", 0.5, 0.5)));
    assertEquals(201, r.status(), r.body());
    String id = r.json().getString("id");
    Files.delete(service.storage().resolve("annotations/thumbnails").resolve(id + ".jpg"));
    Http.Response thumb = Http.get(base + "/annotations/" + id + "/thumbnail", ANN);
    assertEquals(404, thumb.status());
    assertEquals("FILE_NOT_FOUND", thumb.json().getString("code"));
    assertEquals(200, Http.bytes(base + "/annotations/" + id + "/image", ANN).statusCode());
  }
}
