package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * RB-03 proven by killing a real service process at each step of an annotation create (the process halts as
 * abruptly as SIGKILL), then letting the reconciler of another instance on the same database and storage repair:
 * afterwards there is either no trace at all (crash before commit) or a complete annotation with every file, and
 * never an orphan file or a row without its files.
 */
@IntegrationTest
class CrashAtomicityTest {
  private static TestService service;
  private static Path root;
  private static int seed = 9000;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(CrashAtomicityTest.class, Role.API, new JsonObject().put("annotations",
        new JsonObject().put("reconcile_after_seconds", 0).put("reconcile_interval_seconds", 86400)));
    root = service.storage().resolve("annotations");
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static List<Path> files(String dir) throws IOException {
    Path d = root.resolve(dir);
    if (!Files.isDirectory(d)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(d)) {
      return s.filter(Files::isRegularFile).toList();
    }
  }

  private static String filesState(String id) throws Exception {
    try (var c = service.jdbc(); var s = c.prepareStatement("SELECT files_state FROM annotations WHERE id = ?")) {
      s.setString(1, id);
      try (var rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  @ParameterizedTest(name = "crash at {0}")
  @ValueSource(strings = {CrashPoints.BEFORE_COMMIT, CrashPoints.AFTER_COMMIT, CrashPoints.AFTER_IMAGE,
      CrashPoints.AFTER_LABEL, CrashPoints.AFTER_FILES})
  void aCrashAtAnyStepLeavesNothingOrACompleteAnnotation(String point) throws Exception {
    int port = freePort();
    Path log = Files.createTempFile("osprey-crash-", ".log");
    Process process = service.spawn(Role.API, Map.of("OSPREY_HTTP_PORT", Integer.toString(port),
        "OSPREY_TEST_CRASH_AT", point), log);
    try {
      String base = "http://127.0.0.1:" + port;
      TestService.awaitLive(base, process, log, 60_000);
      byte[] image = Fixtures.uniqueJpeg(seed++);
      String id = ContentId.of(image);
      assertThrows(IOException.class, () -> Annotations.create(base, TestAuth.annotator(),
          Annotations.request(image, "crash", Annotations.detection(3, "car", 0.5, 0.5))),
          "the process should die before it answers");
      assertTrue(process.waitFor(30, TimeUnit.SECONDS));
      assertEquals(137, process.exitValue());
      assertTrue(Files.readString(log).contains("halting at " + point));

      Path imageFile = root.resolve("images").resolve(id + ".jpg");
      Path label = root.resolve("labels").resolve(id + ".txt");
      Path thumb = root.resolve("thumbnails").resolve(id + ".jpg");
      // The crash really happened where it was asked to.
      switch (point) {
        case CrashPoints.BEFORE_COMMIT -> {
          assertEquals(null, filesState(id));
          assertEquals(1, files("images/.staging").size());
          assertEquals(1, files("thumbnails/.staging").size(), "the image was decoded before the commit");
        }
        case CrashPoints.AFTER_COMMIT -> {
          assertEquals("pending", filesState(id));
          assertFalse(Files.exists(imageFile));
        }
        case CrashPoints.AFTER_IMAGE -> assertTrue(Files.exists(imageFile) && !Files.exists(label));
        case CrashPoints.AFTER_LABEL -> assertTrue(Files.exists(label) && !Files.exists(thumb));
        default -> assertEquals("pending", filesState(id));
      }

      service.app().reconciler().runOnce().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);

      assertEquals(List.of(), files("images/.staging"), "no staged leftovers");
      assertEquals(List.of(), files("thumbnails/.staging"), "no staged thumbnail left over");
      if (point.equals(CrashPoints.BEFORE_COMMIT)) {
        assertEquals(null, filesState(id));
        assertEquals(0, service.count("SELECT count(*) FROM media WHERE id = '" + id + "'"));
        assertFalse(Files.exists(imageFile) || Files.exists(label) || Files.exists(thumb), "no orphan files");
        assertEquals(0, service.count("SELECT count(*) FROM annotation_outbox WHERE '" + id
            + "' = ANY(annotation_ids)"));
      } else {
        assertEquals("complete", filesState(id));
        assertArrayEquals(image, Files.readAllBytes(imageFile));
        assertEquals("3 0.500000 0.500000 0.100000 0.080000\n", Files.readString(label));
        assertTrue(Files.size(thumb) > 0);
        assertEquals(1, service.count("SELECT count(*) FROM annotation_outbox WHERE '" + id
            + "' = ANY(annotation_ids)"), "the outbox row committed with the annotation");
        assertEquals(1, service.count("SELECT count(*) FROM media WHERE id = '" + id
            + "' AND files_state = 'complete'"));
        assertEquals(200, Http.get(service.baseUrl() + "/annotations/" + id, TestAuth.annotator()).status());
      }
    } finally {
      process.destroyForcibly();
      Files.deleteIfExists(log);
    }
  }
}
