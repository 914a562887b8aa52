package io.osprey.annotations;

import static io.osprey.annotations.Annotations.create;
import static io.osprey.annotations.Annotations.detection;
import static io.osprey.annotations.Annotations.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * F7 and RB-06 across two service instances sharing one database: a change taken by instance A resets the caches
 * of instance B (which had already read them), so B writes files to the new roots and sees the new classes.
 */
@IntegrationTest
class SettingsAndClassesTest {
  private static TestService a;
  private static OspreyApp b;
  private static String baseA;
  private static String baseB;
  private static final String ADMIN = TestAuth.admin();
  private static final String ANN = TestAuth.annotator();

  @BeforeAll
  static void start() throws Exception {
    a = TestService.start(SettingsAndClassesTest.class);
    b = a.startPeer(Role.API, new JsonObject());
    baseA = a.baseUrl();
    baseB = "http://127.0.0.1:" + b.port();
  }

  @AfterAll
  static void stop() throws Exception {
    if (b != null) {
      TestService.stop(b);
    }
    if (a != null) {
      a.close();
    }
  }

  private static void eventually(Supplier<Boolean> condition, String what) throws InterruptedException {
    long end = System.currentTimeMillis() + 5000;
    while (System.currentTimeMillis() < end) {
      if (condition.get()) {
        return;
      }
      Thread.sleep(20);
    }
    throw new AssertionError(what);
  }

  @Test
  void directoryChangeOnOneInstanceResetsThePathCacheOfTheOther() throws Exception {
    JsonObject before = Http.get(baseB + "/settings/directories", ADMIN).json();
    assertEquals("images", before.getString("imagesDir"));
    // B reads (and caches) the roots by creating an annotation under the old images folder.
    Http.Response first = create(baseB, ANN, request(Fixtures.uniqueJpeg(1), "f7", detection(1, "car", 0.5, 0.5)));
    assertEquals(201, first.status(), first.body());
    Path root = a.storage().resolve("annotations");
    assertTrue(Files.exists(root.resolve("images").resolve(first.json().getString("id") + ".jpg")));

    Http.Response put = Http.json("PUT", baseA + "/settings/directories", ADMIN,
        new JsonObject().put("ImagesDir", "images-v2").put("labelsDir", "labels-v2"));
    assertEquals(204, put.status(), put.body());
    assertEquals("images-v2", Http.get(baseA + "/settings/directories", ADMIN).json().getString("imagesDir"));

    // No GET on B in between: its annotation files must follow the new roots because A's change reset B's cache.
    String id = null;
    long end = System.currentTimeMillis() + 5000;
    int seed = 2;
    while (System.currentTimeMillis() < end) {
      Http.Response r = create(baseB, ANN, request(Fixtures.uniqueJpeg(seed++), "f7", detection(1, "car", 0.5, 0.5)));
      assertEquals(201, r.status());
      if (Files.exists(root.resolve("images-v2").resolve(r.json().getString("id") + ".jpg"))) {
        id = r.json().getString("id");
        break;
      }
      Thread.sleep(50);
    }
    assertTrue(id != null, "instance B never picked up the new images root");
    assertTrue(Files.exists(root.resolve("labels-v2").resolve(id + ".txt")));
    assertEquals(200, Http.bytes(baseB + "/annotations/" + id + "/image", ANN).statusCode());

    Http.Response unknown = Http.json("PUT", baseA + "/settings/directories", ADMIN,
        new JsonObject().put("moviesDir", "x"));
    assertEquals(400, unknown.status());
    assertEquals(400, Http.json("PUT", baseA + "/settings/directories", ADMIN, new JsonObject()).status());
    assertEquals(400, Http.json("PUT", baseA + "/settings/directories", ADMIN,
        new JsonObject().put("videosDir", "")).status());
    Http.Response back = Http.json("PUT", baseA + "/settings/directories", ADMIN,
        new JsonObject().put("imagesDir", "images").put("labelsDir", "labels"));
    assertEquals(204, back.status());
  }

  @Test
  void classCatalogChangesReachEveryInstanceAndClassesInUseAreNotDeleted() throws Exception {
    // The catalog starts seeded with conf/classes.json (ids 0..79, the COCO names); B caches it.
    JsonArray seeded = new JsonArray(Http.get(baseB + "/classes", ANN).body());
    assertEquals(80, seeded.size());
    assertEquals("person", seeded.getJsonObject(0).getString("name"));
    assertEquals(79, seeded.getJsonObject(79).getInteger("id"));
    Http.Response taken = Http.json("POST", baseA + "/classes", ADMIN,
        new JsonObject().put("id", 40).put("name", "tractor"));
    assertEquals(409, taken.status(), "id 40 is the seeded 'wine glass': " + taken.body());
    assertEquals("CLASS_EXISTS", taken.json().getString("code"));

    Http.Response created = Http.json("POST", baseA + "/classes", ADMIN,
        new JsonObject().put("id", 90).put("name", "tractor").put("shortName", "tr").put("color", "#00FF00"));
    assertEquals(201, created.status(), created.body());
    assertEquals("/classes/90", created.header("Location"));
    eventually(() -> has(baseB, "tractor"), "instance B never saw the new class");

    // The catalog names detections sent without a label.
    Http.Response ann = create(baseB, ANN, new JsonObject().put("image", java.util.Base64.getEncoder()
        .encodeToString(Fixtures.uniqueJpeg(500))).put("detections", new JsonArray().add(new JsonObject()
        .put("classNum", 90).put("centerX", 0.5).put("centerY", 0.5).put("width", 0.2).put("height", 0.2))));
    assertEquals(201, ann.status(), ann.body());
    assertEquals("tractor", ann.json().getJsonArray("detections").getJsonObject(0).getString("label"));

    Http.Response dup = Http.json("POST", baseA + "/classes", ADMIN, new JsonObject().put("name", "tractor"));
    assertEquals(409, dup.status());
    assertEquals("CLASS_EXISTS", dup.json().getString("code"));
    Http.Response auto = Http.json("POST", baseA + "/classes", ADMIN, new JsonObject().put("name", "harvester"));
    assertEquals(201, auto.status());
    assertEquals(91, auto.json().getInteger("id"), "an id left out takes the next free one");

    Http.Response renamed = Http.json("PUT", baseA + "/classes/90", ADMIN,
        new JsonObject().put("name", "farm tractor").put("color", "#112233"));
    assertEquals(200, renamed.status(), renamed.body());
    eventually(() -> has(baseB, "farm tractor"), "instance B kept the old name");

    Http.Response inUse = Http.json("DELETE", baseA + "/classes/90", ADMIN, null);
    assertEquals(409, inUse.status());
    assertEquals("CLASS_IN_USE", inUse.json().getString("code"));
    assertEquals(1, inUse.json().getJsonObject("details").getInteger("uses"));
    assertEquals(204, Http.json("DELETE", baseA + "/classes/91", ADMIN, null).status());
    eventually(() -> !has(baseB, "harvester"), "instance B still lists the deleted class");
    assertEquals(404, Http.json("DELETE", baseA + "/classes/91", ADMIN, null).status());
    assertEquals(404, Http.json("PUT", baseA + "/classes/12345", ADMIN, new JsonObject().put("name", "x")).status());
    assertEquals(400, Http.json("POST", baseA + "/classes", ADMIN, new JsonObject().put("name", "y")
        .put("color", "green")).status());
  }

  /**
   * The seed is loaded once per database: a catalog emptied on purpose is not filled again when another process
   * starts, and a detection sent with only a seeded classNum is named from the catalog.
   */
  @Test
  void theSeededCatalogNamesDetectionsAndIsNotLoadedAgainOnceEmptied() throws Exception {
    Http.Response ann = create(baseA, ANN, new JsonObject().put("image", java.util.Base64.getEncoder()
        .encodeToString(Fixtures.uniqueJpeg(501))).put("detections", new JsonArray().add(new JsonObject()
        .put("classNum", 2).put("centerX", 0.5).put("centerY", 0.5).put("width", 0.2).put("height", 0.2))));
    assertEquals(201, ann.status(), ann.body());
    assertEquals("car", ann.json().getJsonArray("detections").getJsonObject(0).getString("label"));
    try (var c = a.jdbc(); var st = c.createStatement()) {
      try (var rs = st.executeQuery("SELECT source, loaded FROM detection_classes_seed")) {
        assertTrue(rs.next());
        assertEquals("conf/classes.json", rs.getString(1));
        assertEquals(80, rs.getInt(2));
      }
      st.execute("CREATE TEMP TABLE kept AS SELECT * FROM detection_classes");
      st.execute("DELETE FROM detection_classes");
      OspreyApp c2 = a.startPeer(Role.API, new JsonObject());
      try {
        assertEquals(new JsonArray(), new JsonArray(Http.get("http://127.0.0.1:" + c2.port() + "/classes", ANN)
            .body()), "an emptied catalog stays empty at the next start");
      } finally {
        TestService.stop(c2);
        st.execute("INSERT INTO detection_classes SELECT * FROM kept");
        st.execute("SELECT pg_notify('osprey_cache', 'classes')");
      }
    }
  }

  private static boolean has(String base, String name) {
    try {
      return new JsonArray(Http.get(base + "/classes", ANN).body()).stream()
          .anyMatch(o -> name.equals(((JsonObject) o).getString("name")));
    } catch (Exception e) {
      return false;
    }
  }
}
