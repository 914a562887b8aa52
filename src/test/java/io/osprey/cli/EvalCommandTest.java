package io.osprey.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.eval.CocoDataset;
import io.osprey.eval.SahiConfig;
import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What osprey eval reads (a COCO ground truth) and how it turns its options into configurations. */
@UnitTest
class EvalCommandTest {
  @TempDir
  Path tmp;

  private static final String GT = """
      {"images":[{"id":7,"file_name":"a.jpg","width":2048,"height":1365}],
       "categories":[{"id":1,"name":"human"}],
       "annotations":[{"id":1,"image_id":7,"category_id":1,"bbox":[491.0,1035.0,153.0,182.0],"area":2795520,
                       "iscrowd":0},
                      {"id":2,"image_id":7,"category_id":1,"bbox":[0,0,10,10],"area":60,"iscrowd":1}]}
      """;

  @Test
  void readsAGroundTruthWithTheChosenAreaSource() throws Exception {
    Path file = tmp.resolve("gt.json");
    Files.writeString(file, GT);
    CocoDataset auto = EvalCommand.read(file, CocoDataset.AreaSource.AUTO);
    assertEquals(2, auto.annotations().size());
    assertEquals(153.0 * 182, auto.annotations().get(0).area(), 0, "the whole-image area field is replaced");
    assertEquals(60.0, auto.annotations().get(1).area(), 0, "a plausible field is kept");
    assertTrue(auto.annotations().get(1).crowd());
    assertEquals(2795520.0, EvalCommand.read(file, CocoDataset.AreaSource.FIELD).annotations().get(0).area(), 0);
    assertEquals(7L, auto.images().get(0).id());
  }

  @Test
  void aFileThatIsNotACocoGroundTruthIsAUsageError() throws Exception {
    Path file = tmp.resolve("bad.json");
    Files.writeString(file, "{\"images\":[]}");
    ApiClient.Failure f = assertThrows(ApiClient.Failure.class,
        () -> EvalCommand.read(file, CocoDataset.AreaSource.AUTO));
    assertEquals(ApiClient.USAGE, f.exit());
    assertTrue(f.getMessage().contains("categories"), f.getMessage());
  }

  @Test
  void slicesBecomeOneSlicedConfigurationEachBesideTheWholeImage() {
    EvalCommand c = new EvalCommand();
    c.slices = List.of("512", "640x480");
    c.overlap = 0.25;
    c.postprocess = "nms";
    c.matchMetric = "iou";
    c.matchThreshold = 0.6;
    c.confidence = 0.1;
    List<SahiConfig> configs = c.configs();
    assertEquals(List.of("full", "sliced 512", "sliced 640x480"), configs.stream().map(SahiConfig::label).toList());
    assertEquals(false, configs.get(0).sliced());
    SahiConfig s = configs.get(2);
    assertEquals(640, s.sliceWidth());
    assertEquals(480, s.sliceHeight());
    assertEquals(0.25, s.overlapHeightRatio(), 0);
    assertEquals("NMS", s.postprocessType());
    assertEquals("IOU", s.matchMetric());
    assertEquals(0.1, s.confidence(), 0);
    assertTrue(s.performStandardPred());
    c.postprocess = "median";
    assertEquals(ApiClient.USAGE, assertThrows(ApiClient.Failure.class, c::configs).exit());
  }

  @Test
  void mapOptionsSplitIntoCategoryAndModelClasses() {
    assertEquals(List.of("car", "truck", "bus"), EvalCommand.aliases(List.of("car=car, truck,bus")).get("car"));
    assertEquals(ApiClient.USAGE, assertThrows(ApiClient.Failure.class,
        () -> EvalCommand.aliases(List.of("human"))).exit());
  }
}
