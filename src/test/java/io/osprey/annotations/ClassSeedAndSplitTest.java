package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shipped class file and how catalog files are read; the export's train/val split. */
@UnitTest
class ClassSeedAndSplitTest {

  @Test
  void theShippedCatalogHasTheEightyCocoClassesInIdOrder() throws Exception {
    List<ClassCatalog.DetectionClass> seed = ClassCatalog.parseSeed(Files.readString(Path.of("conf/classes.json")),
        "conf/classes.json");
    assertEquals(80, seed.size());
    for (int i = 0; i < 80; i++) {
      assertEquals(i, seed.get(i).id());
      assertTrue(seed.get(i).color().matches("#[0-9A-F]{6}"), seed.get(i).toString());
    }
    assertEquals("person", seed.get(0).name());
    assertEquals("car", seed.get(2).name());
    assertEquals("toothbrush", seed.get(79).name());
  }

  @Test
  void aCatalogFileIsTheShapeOfGetClassesAndBadEntriesNameTheirPlace() {
    List<ClassCatalog.DetectionClass> ok = ClassCatalog.parseSeed(
        "[{\"id\": 7, \"name\": \"tractor\"}, {\"ID\": 3, \"Name\": \"plough\", \"shortName\": \"pl\","
            + " \"color\": \"#80112233\"}]", "f");
    assertEquals(List.of(new ClassCatalog.DetectionClass(7, "tractor", "tractor", "#FF0000"),
        new ClassCatalog.DetectionClass(3, "plough", "pl", "#80112233")), ok);
    assertEquals(List.of(), ClassCatalog.parseSeed("[]", "f"));
    for (String[] bad : new String[][] {
        {"{\"id\": 1}", "f: not a JSON array of classes"},
        {"[1]", "f: entry 0: must be an object"},
        {"[{\"name\": \"a\"}]", "f: entry 0: id must be a whole number >= 0"},
        {"[{\"id\": -1, \"name\": \"a\"}]", "f: entry 0: id must be a whole number >= 0"},
        {"[{\"id\": 1.5, \"name\": \"a\"}]", "f: entry 0: id must be a whole number >= 0"},
        {"[{\"id\": 1}]", "f: entry 0: name is required"},
        {"[{\"id\": 1, \"name\": \" \"}]", "f: entry 0: name must be a non-empty string"},
        {"[{\"id\": 1, \"name\": \"a\", \"color\": \"red\"}]", "f: entry 0: color must be #RRGGBB or #AARRGGBB"},
        {"[{\"id\": 1, \"name\": \"a\"}, {\"id\": 1, \"name\": \"b\"}]", "f: entry 1: id 1 appears twice"},
        {"[{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"a\"}]", "f: entry 1: name 'a' appears twice"}}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> ClassCatalog.parseSeed(bad[0], "f"), bad[0]);
      assertTrue(e.getMessage().startsWith(bad[1]), bad[0] + " -> " + e.getMessage());
    }
  }

  @Test
  void theSplitDependsOnlyOnSeedAndIdAndHonoursTheFraction() {
    DatasetFormat.Split a = new DatasetFormat.Split(0.8, 42);
    DatasetFormat.Split same = new DatasetFormat.Split(0.8, 42);
    DatasetFormat.Split other = new DatasetFormat.Split(0.8, 43);
    int train = 0;
    int differ = 0;
    int n = 20_000;
    for (int i = 0; i < n; i++) {
      String id = String.format("%032x", i * 2654435761L);
      assertEquals(a.of(id), same.of(id));
      train += a.of(id).equals("train") ? 1 : 0;
      differ += a.of(id).equals(other.of(id)) ? 0 : 1;
    }
    // Binomial(20000, 0.8): sd is about 57, so 4 sd either side.
    assertTrue(Math.abs(train - 0.8 * n) < 230, "train share " + train);
    // Two seeds agree where both hashes fall on the same side: 0.8² + 0.2² = 68 %, so 32 % differ.
    assertTrue(Math.abs(differ - 0.32 * n) < 300, "different seeds differ on " + differ);
    assertEquals(List.of("train"), new DatasetFormat.Split(null, 0).names());
    assertEquals("train", new DatasetFormat.Split(null, 0).of("anything"));
  }
}
