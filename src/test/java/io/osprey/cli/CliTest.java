package io.osprey.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.auth.Permission;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The osprey CLI run against a real running service (in this JVM), exactly as a user types it. */
@IntegrationTest
class CliTest {
  private static TestService service;
  private static String url;
  @TempDir
  static Path tmp;

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(CliTest.class);
    url = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  record Run(int exit, String out, String err) {
    JsonObject json() {
      return new JsonObject(out);
    }
  }

  private static Run osprey(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = OspreyCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of("--url", url, "--token-file", tmp.resolve("none").toString()));
    all.addAll(List.of(args));
    int exit = cli.execute(all.toArray(String[]::new));
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void detectWaitsShowsProgressAndDownloadsResultsAndAnnotatedImages() throws Exception {
    Path images = tmp.resolve("shots");
    Files.createDirectories(images);
    Files.copy(Fixtures.imagesDir().resolve("terrain1.jpg"), images.resolve("terrain1.jpg"));
    Files.copy(Fixtures.imagesDir().resolve("small-vehicles1.jpeg"), images.resolve("cars.jpeg"));
    Path out = tmp.resolve("out");
    Run run = osprey("detect", images.toString(), "--model", "yolov8n_int8", "--wait", "--out", out.toString(),
        "--format", "coco");
    assertEquals(0, run.exit(), run.out() + run.err());
    assertTrue(run.out().contains(": completed, 2/2 images"), run.out());
    assertTrue(run.err().contains("[##############################] 2/2 completed"), "a progress bar: " + run.err());
    String jobId = run.out().lines().filter(l -> l.endsWith("queued")).findFirst().orElseThrow().split(" ")[1].replace(":", "");
    JsonObject coco = new JsonObject(Files.readString(out.resolve(jobId + ".coco.json")));
    assertTrue(coco.getJsonArray("annotations").size() > 0);
    try (Stream<Path> annotated = Files.list(out.resolve(jobId).resolve("annotated"))) {
      assertEquals(2, annotated.count());
    }

    // The job was made without a token: its id is the capability for status and results, but listing needs one.
    Run status = osprey("--json", "status", jobId);
    assertEquals("completed", status.json().getString("status"));
    Run anonymousList = osprey("jobs");
    assertEquals(ApiClient.AUTH, anonymousList.exit(), anonymousList.out() + anonymousList.err());
    assertTrue(anonymousList.err().contains("listing jobs needs a token") && anonymousList.err().contains("login"),
        anonymousList.err());
    Run jobs = osprey("--token", TestAuth.admin(), "--json", "jobs");
    assertEquals(jobId, jobs.json().getJsonArray("jobs").getJsonObject(0).getString("job_id"));
    Run table = osprey("--token", TestAuth.admin(), "jobs");
    assertTrue(table.out().startsWith("JOB"), table.out());
    Run results = osprey("results", jobId);
    assertEquals(0, results.exit());
    assertTrue(new JsonObject(results.out().strip()).containsKey("results") || results.out().contains("detections"));
    Path zip = tmp.resolve("labels.zip");
    assertEquals(0, osprey("results", jobId, "--format", "yolo", "--out", zip.toString()).exit());
    assertTrue(Files.size(zip) > 0);
    assertEquals(ApiClient.REJECTED, osprey("cancel", jobId).exit(), "a finished job cannot be cancelled");

    // delete: the id holder of an anonymous job removes it; afterwards it is not found.
    Run deleted = osprey("delete", jobId);
    assertEquals(0, deleted.exit(), deleted.out() + deleted.err());
    assertTrue(deleted.out().contains("job " + jobId + ": deleted"), deleted.out());
    assertEquals(ApiClient.NOT_FOUND, osprey("status", jobId).exit());
    assertEquals(ApiClient.NOT_FOUND, osprey("delete", jobId).exit(), "a second delete finds nothing");
    assertEquals(ApiClient.NOT_FOUND, osprey("delete", "--upload", "3f5e0c8a-0000-4000-8000-000000000000").exit());
  }

  @Test
  void exitCodesSayWhatFailed() {
    assertEquals(ApiClient.NOT_FOUND, osprey("status", "3f5e0c8a-0000-4000-8000-000000000000").exit());
    Run noToken = osprey("annotations", "list");
    assertEquals(ApiClient.AUTH, noToken.exit());
    assertTrue(noToken.err().contains("UNAUTHORIZED"), noToken.err());
    assertEquals(ApiClient.USAGE, osprey("detect", tmp.resolve("missing.jpg").toString()).exit());
    assertEquals(ApiClient.USAGE, osprey("frobnicate").exit());
    StringWriter err = new StringWriter();
    CommandLine cli = OspreyCli.commandLine();
    cli.setErr(new PrintWriter(err, true));
    assertEquals(ApiClient.UNREACHABLE, cli.execute("--url", "http://127.0.0.1:1", "jobs"));
  }

  @Test
  void jobsListsTheTokenSubjectsOwnJobs() throws Exception {
    String token = TestAuth.token("cli-lister");
    String[] withToken = {"--url", url, "--token", token, "--json"};
    Path image = tmp.resolve("mine.jpg");
    Files.write(image, Fixtures.uniqueJpeg(4343));
    // --wait: the job ends before the test does, so no inference is running when the service closes.
    Run detect = run(withToken, "detect", image.toString(), "--model", "yolov8n_int8", "--wait");
    assertEquals(0, detect.exit(), detect.out() + detect.err());
    String jobId = detect.json().getJsonArray("jobs").getJsonObject(0).getString("job_id");
    Run mine = run(withToken, "jobs");
    assertEquals(0, mine.exit(), mine.err());
    assertEquals(1, mine.json().getJsonArray("jobs").size(), mine.out());
    assertEquals(jobId, mine.json().getJsonArray("jobs").getJsonObject(0).getString("job_id"));
    Run other = run(new String[] {"--url", url, "--token", TestAuth.token("cli-other"), "--json"}, "jobs");
    assertEquals(0, other.json().getInteger("total"), "another subject sees none of them: " + other.out());
  }

  @Test
  void loginStoresTheTokenAndAnnotationCommandsUseIt() throws Exception {
    Path tokenFile = tmp.resolve("token");
    String token = TestAuth.token("cli", Permission.ANN, Permission.DATASET);
    StringWriter out = new StringWriter();
    CommandLine cli = OspreyCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    assertEquals(0, cli.execute("--url", url, "--token-file", tokenFile.toString(), "login", "--token", token));
    assertEquals(token, Files.readString(tokenFile).strip());

    Path image = tmp.resolve("one.jpg");
    Files.write(image, Fixtures.uniqueJpeg(4242));
    String[] base = {"--url", url, "--token-file", tokenFile.toString(), "--json"};
    Run created = run(base, "annotations", "create", image.toString(), "--flight", "cli-flight", "--detections",
        "[{\"classNum\":1,\"label\":\"car\",\"centerX\":0.5,\"centerY\":0.5,\"width\":0.2,\"height\":0.2}]");
    assertEquals(0, created.exit(), created.err());
    String id = created.json().getString("id");
    Run list = run(base, "annotations", "list", "--flight", "cli-flight");
    assertEquals(1, list.json().getInteger("totalCount"));
    assertEquals(id, run(base, "annotations", "get", id).json().getString("id"));
    assertEquals("Validated", run(base, "annotations", "status", "Validated", id).json().getString("status"));

    // events: a subscriber started by the CLI sees the next change
    StringWriter events = new StringWriter();
    Thread tail = new Thread(() -> {
      CommandLine c = OspreyCli.commandLine();
      c.setOut(new PrintWriter(events, true));
      c.execute("--url", url, "--token-file", tokenFile.toString(), "events", "--flight", "cli-flight",
          "--limit", "1");
    });
    tail.start();
    // The tail subscribes in the background: change the status (back and forth) until it has seen a change; with
    // --limit 1 it prints that one event and exits.
    String[] next = {"Edited", "Validated"};
    int[] changes = {0};
    Await.until("the CLI's event tail printed a change", Duration.ofSeconds(15), () -> {
      assertEquals(0, run(base, "annotations", "status", next[changes[0]++ % 2], id).exit());
      tail.join(500);
      return !tail.isAlive();
    });
    JsonObject line = new JsonObject(events.toString().strip());
    assertEquals("annotation", line.getString("event"));
    assertEquals(id, line.getJsonObject("data").getString("annotationId"));
  }

  @Test
  void loadGeneratorReportsRatesLatenciesAndErrors() throws Exception {
    Path report = tmp.resolve("load.json");
    Run run = osprey("--token", TestAuth.annotator(), "load", "--scenario", "annotations", "--concurrency", "2",
        "--duration", "2", "--report", report.toString());
    assertEquals(0, run.exit(), run.out() + run.err());
    assertTrue(run.out().startsWith("annotations: "), run.out());
    JsonObject r = new JsonObject(Files.readString(report));
    assertTrue(r.getLong("ok") > 0);
    assertEquals(0L, r.getLong("failed"));
    assertTrue(r.getJsonObject("latencyMs").getDouble("p99") >= r.getJsonObject("latencyMs").getDouble("p50"));

    Run bounded = osprey("--json", "load", "--scenario", "upload", "--concurrency", "3", "--duration", "30",
        "--requests", "5");
    assertEquals(5L, bounded.json().getLong("ok"), "bounded by count, well before the time");
    Run errors = osprey("--json", "load", "--scenario", "annotations", "--duration", "1", "--requests", "3");
    assertEquals(ApiClient.SERVER, errors.exit(), "failures are reported");
    assertEquals(3L, errors.json().getJsonObject("errors").getLong("UNAUTHORIZED"));
    assertEquals(ApiClient.USAGE, osprey("--url", "http://example.com", "load", "--scenario", "status").exit(),
        "remote targets need --allow-remote");
  }

  @Test
  void loadRunsFullDetectJobsAndHoldsSseSubscribers() throws Exception {
    Run detect = osprey("--json", "load", "--scenario", "detect", "--concurrency", "1", "--duration", "60",
        "--requests", "1");
    assertEquals(0, detect.exit(), detect.out() + detect.err());
    assertEquals(1L, detect.json().getLong("ok"));

    String token = TestAuth.annotator();
    int subscribers = service.app().eventStreams().openStreams();
    Thread producer = new Thread(() -> {
      try {
        // The events go out once the load's 3 subscribers are connected, so each must receive all 3.
        Await.until("the load's 3 SSE subscribers connected", Duration.ofSeconds(20),
            () -> service.app().eventStreams().openStreams() >= subscribers + 3);
        for (int i = 0; i < 3; i++) {
          io.osprey.testing.Http.json("POST", url + "/annotations", token, new JsonObject()
              .put("image", java.util.Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(5000 + i)))
              .put("detections", new io.vertx.core.json.JsonArray()));
        }
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    producer.start();
    Run sse = osprey("--json", "--token", token, "load", "--scenario", "sse", "--concurrency", "3", "--duration",
        "3");
    producer.join();
    assertEquals(0, sse.exit(), sse.out() + sse.err());
    assertEquals(9L, sse.json().getLong("eventsReceived"), "3 subscribers x 3 events");
  }

  private static Run run(String[] base, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = OspreyCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of(base));
    all.addAll(List.of(args));
    return new Run(cli.execute(all.toArray(String[]::new)), out.toString(), err.toString());
  }


  @Test
  void evalThroughTheServiceScoresTheSameAsInProcess() throws Exception {
    // terrain2 (1024x682, 5 cars) with 512-px slices: the service's predict + results against the in-process engine.
    Path gt = Fixtures.imagesDir().resolve("terrain2_coco.json");
    Path api = tmp.resolve("eval-api");
    Run run = osprey("eval", "--gt", gt.toString(), "--model", "yolov8n_int8", "--map", "car=car,truck,bus",
        "--slice", "512", "--class-names", Models.dir().resolve("coco80.names").toString(), "--out", api.toString());
    assertEquals(0, run.exit(), run.out() + run.err());
    Path local = tmp.resolve("eval-local");
    Run inProcess = osprey("eval", "--local", "--models-dir", Models.dir().toString(), "--threads", "2",
        "--native-cache", Path.of("target", "native-cache").toString(), "--gt", gt.toString(), "--model",
        "yolov8n_int8", "--map", "car=car,truck,bus", "--slice", "512", "--out", local.toString());
    assertEquals(0, inProcess.exit(), inProcess.out() + inProcess.err());
    JsonObject viaApi = new JsonObject(Files.readString(Path.of(api + ".json")));
    JsonObject viaEngine = new JsonObject(Files.readString(Path.of(local + ".json")));
    assertTrue(Files.readString(Path.of(api + ".md")).contains("| metric | full | sliced 512 |"));
    for (int i = 0; i < 2; i++) {
      JsonObject a = viaApi.getJsonArray("configurations").getJsonObject(i);
      JsonObject e = viaEngine.getJsonArray("configurations").getJsonObject(i);
      System.out.printf("[eval] %s: api AP %.4f AP50 %.4f, local AP %.4f AP50 %.4f%n", a.getString("label"),
          a.getJsonObject("overall").getDouble("AP"), a.getJsonObject("overall").getDouble("AP50"),
          e.getJsonObject("overall").getDouble("AP"), e.getJsonObject("overall").getDouble("AP50"));
      assertEquals(e.getInteger("detections"), a.getInteger("detections"), a.getString("label"));
      assertEquals(e.getJsonObject("overall").getJsonObject("counts_at_iou50"),
          a.getJsonObject("overall").getJsonObject("counts_at_iou50"), a.getString("label"));
      // the service rounds boxes to 0.1 px and scores to 4 decimals: the same boxes, AP equal to well within .01
      assertEquals(e.getJsonObject("overall").getDouble("AP"), a.getJsonObject("overall").getDouble("AP"), 0.01);
    }
  }
}
