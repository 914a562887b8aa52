package io.osprey.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Ground-truth categories meet model classes by name, or by an explicit map; what cannot be detected is listed. */
@UnitTest
class ClassMappingTest {
  private static final List<String> MODEL = List.of("person", "bicycle", "car", "motorcycle", "bus", "truck");
  private static final CocoDataset TRUTH = new CocoDataset(
      List.of(new CocoDataset.Image(1, "a.jpg", 100, 100)),
      List.of(new CocoDataset.Category(1, "human"), new CocoDataset.Category(2, "Car")),
      List.of(new CocoDataset.Annotation(1, 1, 1, 0, 0, 10, 10, 100, false),
          new CocoDataset.Annotation(2, 1, 1, 20, 0, 10, 10, 100, false),
          new CocoDataset.Annotation(3, 1, 2, 40, 0, 10, 10, 100, false)));

  @Test
  void sameNameMatchesIgnoringCaseAndAnUnknownCategoryIsListedWithItsObjectCount() {
    ClassMapping m = ClassMapping.of(TRUTH, MODEL, Map.of());
    assertEquals(2L, m.categoryOf("car"));
    assertNull(m.categoryOf("truck"));
    assertNull(m.categoryOf("person"));
    assertEquals(1, m.unmapped().size());
    assertEquals("human", m.unmapped().get(0).name());
    assertEquals(2, m.unmapped().get(0).annotations());
    assertTrue(m.unmapped().get(0).reason().contains("--map human="), m.unmapped().get(0).reason());
  }

  @Test
  void anExplicitMapLetsSeveralModelClassesCountAsOneCategory() {
    ClassMapping m = ClassMapping.of(TRUTH, MODEL, Map.of("human", List.of("person"),
        "car", List.of("car", "truck", "bus")));
    assertEquals(1L, m.categoryOf("person"));
    assertEquals(2L, m.categoryOf("TRUCK"));
    assertEquals(2L, m.categoryOf("bus"));
    assertEquals(List.of("car", "truck", "bus"), m.modelClasses(2));
    assertTrue(m.unmapped().isEmpty());
  }

  @Test
  void aMapToAClassTheModelLacksOrOfNoCategoryOrClaimingAClassTwiceIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> ClassMapping.of(TRUTH, MODEL, Map.of("human", List.of("man"))));
    assertThrows(IllegalArgumentException.class, () -> ClassMapping.of(TRUTH, MODEL, Map.of("dog", List.of("car"))));
    assertThrows(IllegalArgumentException.class, () -> ClassMapping.of(TRUTH, MODEL,
        Map.of("human", List.of("person", "car"))));
  }

  @Test
  void withoutTheModelsNamesEveryNamedClassIsAssumedToExist() {
    ClassMapping m = ClassMapping.of(TRUTH, null, Map.of("human", List.of("person")));
    assertEquals(1L, m.categoryOf("person"));
    assertEquals(2L, m.categoryOf("car"));
    assertTrue(m.unmapped().isEmpty());
  }
}
