package io.osprey.uploads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What a crash leaves behind (temp parts, upload folders without rows) is removed; registered uploads stay. */
@IntegrationTest
class StorageJanitorTest {
  private static TestService service;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(StorageJanitorTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static void age(Path p) throws Exception {
    Files.setLastModifiedTime(p, FileTime.from(Instant.now().minus(2, ChronoUnit.DAYS)));
  }

  @Test
  void sweepRemovesStaleLeftoversAndKeepsRegisteredAndFreshUploads() throws Exception {
    Http.Response r = new Http.Multipart().bytes("files", "kept.png", Fixtures.image("png", 70, 70))
        .post(service.baseUrl() + "/api/v1/inference/upload");
    assertEquals(200, r.status(), r.body());
    Path kept = service.storage().resolve("uploads").resolve(r.json().getString("upload_id"));
    age(kept);

    Path staleTmp = Files.writeString(service.storage().resolve("tmp").resolve(UUID.randomUUID() + ".part"), "x");
    age(staleTmp);
    Path freshTmp = Files.writeString(service.storage().resolve("tmp").resolve(UUID.randomUUID() + ".part"), "x");
    Path orphan = Files.createDirectories(service.storage().resolve("uploads").resolve(UUID.randomUUID().toString()));
    Files.writeString(orphan.resolve("a.png"), "x");
    age(orphan);
    Path freshOrphan = Files.createDirectories(
        service.storage().resolve("uploads").resolve(UUID.randomUUID().toString()));

    int removed = service.app().janitor().sweep().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);

    assertEquals(2, removed);
    assertFalse(Files.exists(staleTmp));
    assertFalse(Files.exists(orphan));
    assertTrue(Files.exists(kept));
    assertTrue(Files.exists(freshTmp));
    assertTrue(Files.exists(freshOrphan));
  }
}
