package io.osprey.rules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.inference.Detection;
import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each shipped rule set on hand-made detections, and the stage's failure modes. */
@UnitTest
class RulesStageTest {
  private static final List<String> NAMES = List.of("person", "bicycle", "car", "motorcycle", "airplane", "bus",
      "train", "truck");
  private static final RulesStage SHIPPED = new RulesStage(new RuleSets(Path.of("conf", "rules")), 2000);

  @TempDir
  Path dir;

  private static Detection box(String cls, float score, float x1, float y1, float x2, float y2) {
    return new Detection(NAMES.indexOf(cls), cls, score, x1, y1, x2, y2);
  }

  private static RulesStage.ImageFacts facts(Map<String, Object> meta, Map<String, Object> params) {
    return new RulesStage.ImageFacts(2000, 2000, "test.jpg", meta, params);
  }

  @Test
  void sizeLimitsDropCarsOfImpossibleSizeWhenTheGroundSampleDistanceIsKnown() throws Exception {
    List<Detection> in = List.of(
        box("car", 0.9f, 100, 100, 140, 120),    // 40 px = 4 m at 0.1 m/px: a car
        box("car", 0.8f, 0, 0, 400, 200),        // 40 m: no car
        box("car", 0.7f, 500, 500, 510, 505),    // 1 m: no car
        box("person", 0.6f, 600, 600, 608, 608)); // 0.8 m: a person
    RulesStage.Outcome withGsd = SHIPPED.apply("size_limits", facts(Map.of("gsd", 0.1), Map.of()), in, NAMES);
    assertEquals(List.of(in.get(0), in.get(3)), withGsd.kept());
    assertEquals(List.of("too_large", "too_small"), withGsd.suppressedReasons());

    RulesStage.Outcome withoutGsd = SHIPPED.apply("size_limits", facts(Map.of(), Map.of()), in, NAMES);
    assertEquals(in, withoutGsd.kept());

    RulesStage.Outcome lenient = SHIPPED.apply("size_limits", facts(Map.of("gsd", 0.1),
        Map.of("size_margin", 3.0)), in, NAMES);
    assertEquals(1, lenient.suppressed().size(), "with 3x margin only the 40 m car goes");
  }

  @Test
  void peopleInsideAVehicleAreDroppedOrDownweighted() throws Exception {
    List<Detection> in = List.of(
        box("car", 0.9f, 0, 0, 100, 50),
        box("person", 0.6f, 10, 10, 30, 30),      // inside the car
        box("person", 0.7f, 200, 200, 220, 240),  // on the road
        box("person", 0.5f, 90, 10, 130, 30));    // half over the car's edge
    RulesStage.Outcome drop = SHIPPED.apply("people_in_vehicles", facts(Map.of(), Map.of()), in, NAMES);
    assertEquals(List.of(in.get(0), in.get(2), in.get(3)), drop.kept());
    assertEquals(List.of("inside_vehicle"), drop.suppressedReasons());

    RulesStage.Outcome down = SHIPPED.apply("people_in_vehicles", facts(Map.of(),
        Map.of("mode", "downweight", "factor", 0.25)), in, NAMES);
    assertEquals(4, down.kept().size());
    assertEquals(0.15f, down.kept().get(1).score(), 1e-5);
    assertEquals("adjust", down.notes().get(1).get(0).action());
    assertEquals(0.7f, down.kept().get(2).score());
  }

  @Test
  void carsLinedUpGainConfidenceWhileALoneCarDoesNot() throws Exception {
    List<Detection> in = List.of(
        box("car", 0.40f, 0, 0, 50, 25),
        box("car", 0.45f, 60, 2, 110, 27),
        box("car", 0.50f, 120, 0, 170, 25),
        box("car", 0.40f, 1000, 1000, 1050, 1025),  // alone
        box("car", 0.40f, 60, 300, 110, 325),       // near nothing of its size in line
        box("person", 0.95f, 70, 40, 80, 50));      // not a vehicle
    RulesStage.Outcome out = SHIPPED.apply("parked_rows", facts(Map.of(), Map.of()), in, NAMES);
    assertEquals(0.50f, out.kept().get(0).score(), 1e-5);
    assertEquals(0.55f, out.kept().get(1).score(), 1e-5);
    assertEquals(0.60f, out.kept().get(2).score(), 1e-5);
    assertEquals(0.40f, out.kept().get(3).score(), 1e-6);
    assertEquals(0.40f, out.kept().get(4).score(), 1e-6);
    assertEquals(0.95f, out.kept().get(5).score(), 1e-6);
    assertEquals(List.of(), out.notes().get(3));
  }

  @Test
  void ruleSetWithoutAnswersLeavesEveryBoxIdentical() throws Exception {
    Files.writeString(dir.resolve("quiet.pl"), "% nothing to say\nunused(1).\n");
    List<Detection> in = List.of(box("car", 0.9f, 0, 0, 10, 10), box("truck", 0.3f, 5, 5, 50, 50));
    RulesStage.Outcome out = new RulesStage(new RuleSets(dir), 1000).apply("quiet", facts(Map.of(), Map.of()), in,
        NAMES);
    assertEquals(in, out.kept());
    assertEquals(List.of(List.of(), List.of()), out.notes());
  }

  @Test
  void relabelRenamesTheClassAndRecordsIt() throws Exception {
    Files.writeString(dir.resolve("trucks.pl"),
        "relabel(Id, truck) :- detection(Id, car, _, _, _, _, _), box_long_side(Id, L), L > 100.\n");
    List<Detection> in = List.of(box("car", 0.9f, 0, 0, 150, 60), box("car", 0.8f, 0, 0, 40, 20));
    RulesStage.Outcome out = new RulesStage(new RuleSets(dir), 1000).apply("trucks", facts(Map.of(), Map.of()), in,
        NAMES);
    assertEquals("truck", out.kept().get(0).className());
    assertEquals(7, out.kept().get(0).classId());
    assertEquals("relabel", out.notes().get(0).get(0).action());
    assertEquals("car", out.kept().get(1).className());
  }

  @Test
  void brokenRuleFileIsRulesErrorNamingFileAndLine() throws Exception {
    Files.writeString(dir.resolve("bad.pl"), "% fine\nsuppress(Id, x) :- detection(Id, car.\n");
    RulesException e = assertThrows(RulesException.class, () -> new RulesStage(new RuleSets(dir), 1000)
        .apply("bad", facts(Map.of(), Map.of()), List.of(), NAMES));
    assertTrue(e.getMessage().contains("bad.pl") && e.getMessage().contains("line 2"), e.getMessage());
  }

  @Test
  void ruleThatThrowsIsRulesErrorNamingTheFile() throws Exception {
    Files.writeString(dir.resolve("throws.pl"), "adjust(Id, S) :- detection(Id, _, _, _, _, _, _), S is foo + 1.\n");
    RulesException e = assertThrows(RulesException.class, () -> new RulesStage(new RuleSets(dir), 1000)
        .apply("throws", facts(Map.of(), Map.of()), List.of(box("car", 0.5f, 0, 0, 1, 1)), NAMES));
    assertTrue(e.getMessage().contains("throws.pl"), e.getMessage());
  }

  @Test
  void runawayRuleIsStoppedByTheTimeBudget() throws Exception {
    // A loop that never ends but calls a rule-set predicate on every turn.
    Files.writeString(dir.resolve("spin.pl"), "tick(_).\nadjust(Id, 1) :- detection(Id, _, _, _, _, _, _),"
        + " between(1, 2000000000, X), tick(X), X < 0.\n");
    RulesStage stage = new RulesStage(new RuleSets(dir), 200);
    long start = System.nanoTime();
    RulesException e = assertThrows(RulesException.class, () -> stage.apply("spin", facts(Map.of(), Map.of()),
        List.of(box("car", 0.5f, 0, 0, 1, 1)), NAMES));
    assertTrue(e.getMessage().contains("time budget"), e.getMessage());
    assertTrue(System.nanoTime() - start < 10_000_000_000L);
  }

  @Test
  void endlessRecursionIsRulesErrorNotACrash() throws Exception {
    Files.writeString(dir.resolve("deep.pl"), "down(N) :- M is N + 1, down(M).\nadjust(Id, 1) :- detection(Id, _, _,"
        + " _, _, _, _), down(0).\n");
    RulesException e = assertThrows(RulesException.class, () -> new RulesStage(new RuleSets(dir), 60_000)
        .apply("deep", facts(Map.of(), Map.of()), List.of(box("car", 0.5f, 0, 0, 1, 1)), NAMES));
    assertTrue(e.getMessage().contains("deep.pl"), e.getMessage());
  }

  @Test
  void editedRuleFileTakesEffectWithoutRestart() throws Exception {
    Path file = dir.resolve("edit.pl");
    Files.writeString(file, "suppress(Id, first) :- detection(Id, car, _, _, _, _, _).\n");
    RulesStage stage = new RulesStage(new RuleSets(dir), 1000);
    List<Detection> in = List.of(box("car", 0.5f, 0, 0, 1, 1));
    assertEquals(List.of("first"), stage.apply("edit", facts(Map.of(), Map.of()), in, NAMES).suppressedReasons());
    Files.writeString(file, "suppress(Id, second_version) :- detection(Id, car, _, _, _, _, _).\n");
    Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5000));
    assertEquals(List.of("second_version"), stage.apply("edit", facts(Map.of(), Map.of()), in, NAMES)
        .suppressedReasons());
  }

  @Test
  void unknownRuleSetIsRulesError() {
    RulesException e = assertThrows(RulesException.class, () -> SHIPPED.apply("nope", facts(Map.of(), Map.of()),
        List.of(), NAMES));
    assertTrue(e.getMessage().contains("size_limits"), e.getMessage());
  }
}
