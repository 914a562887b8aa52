package io.osprey.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Assets;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code osprey eval --local} on a real aerial photo with a real model: the command runs the in-process engine whole
 * image and sliced, and writes a JSON and a Markdown report that read back with sane numbers.
 */
@IntegrationTest
class EvalLocalTest {
  @TempDir
  Path tmp;

  @Test
  void evalLocalOnTerrain1WritesReportsWithFullAndSlicedSideBySide() throws Exception {
    Models.assumePresent();
    Path gt = Fixtures.imagesDir().resolve("terrain1_coco.json");
    Assets.require(Files.isRegularFile(gt), "ground truth not found at " + gt.toAbsolutePath());
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = OspreyCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    Path prefix = tmp.resolve("t1");
    int exit = cli.execute("eval", "--local", "--models-dir", Models.dir().toString(), "--model", "yolov8n_int8",
        "--threads", "2", "--native-cache", Path.of("target", "native-cache").toString(), "--gt", gt.toString(),
        "--map", "human=person", "--slice", "1024", "--out", prefix.toString());
    assertEquals(0, exit, out + "\n" + err);

    JsonObject report = new JsonObject(Files.readString(Path.of(prefix + ".json")));
    String md = Files.readString(Path.of(prefix + ".md"));
    JsonArray configs = report.getJsonArray("configurations");
    assertEquals(2, configs.size());
    assertEquals("full", configs.getJsonObject(0).getString("label"));
    assertEquals("sliced 1024", configs.getJsonObject(1).getString("label"));
    assertTrue(md.contains("| metric | full | sliced 1024 |"), md);
    assertEquals(new JsonArray().add("person"),
        report.getJsonArray("categories").getJsonObject(0).getJsonArray("model_classes"));
    for (Object o : configs) {
      JsonObject c = (JsonObject) o;
      JsonObject overall = c.getJsonObject("overall");
      for (String metric : new String[] {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs",
          "ARm", "ARl", "AP50s", "AP50m", "AP50l"}) {
        double v = overall.getDouble(metric);
        assertTrue(v == -1 || (v >= 0 && v <= 1), c.getString("label") + " " + metric + " = " + v);
      }
      for (Map.Entry<String, Object> perClass : c.getJsonObject("per_class")) {
        double ap = ((JsonObject) perClass.getValue()).getDouble("AP");
        assertTrue(ap == -1 || (ap >= 0 && ap <= 1), perClass.getKey() + " AP = " + ap);
      }
      JsonObject counts = overall.getJsonObject("counts_at_iou50");
      // Measured: yolov8n_int8 finds all 7 annotated people at IoU .5 with and without slicing (as
      // SlicingPayoffTest says for the default configuration), so AP50 is 1 in both.
      assertEquals(7, counts.getJsonObject("all").getInteger("found"), c.encodePrettily());
      assertEquals(1.0, overall.getDouble("AP50"), 1e-9, c.getString("label"));
      // terrain1 has no COCO-small object (the smallest box is 48x152 = 7296 px²): the small range is empty, -1.
      assertEquals(0, counts.getJsonObject("small").getInteger("truth"));
      assertEquals(-1.0, overall.getDouble("APs"), 0);
    }
  }
}
