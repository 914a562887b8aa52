package io.osprey.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.auth.Permission;
import io.osprey.testing.Assets;
import io.osprey.testing.Browser;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Models;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The detection side of the console in a real headless Chromium, end to end against one service: sign in; a
 * refused upload shows each bad file's own error and stores nothing; a job on two aerial photos followed to 100 %
 * through its event stream; thumbnails fetched only once scrolled into view; the viewer's box count against the
 * results JSON; the COCO download; the jobs list with its filter; labels on every control, no horizontal overflow
 * at 768 px, and a clean browser log. Screenshots of each screen go to target/console-screenshots/.
 */
@IntegrationTest
class ConsoleJobsBrowserTest {
  private static final String MODEL = "yolov8n_int8";
  /** Every control has an accessible name: a label, aria-label(ledby), or (buttons, links) its text. */
  private static final String UNLABELLED = "return [...document.querySelectorAll('#view input, #view select,"
      + " #view textarea, #view button, #view a[href]')].filter(e => e.offsetParent !== null"
      + " || e.type === 'file').filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label')"
      + " || e.getAttribute('aria-labelledby') || ((e.tagName === 'BUTTON' || e.tagName === 'A')"
      + " && e.textContent.trim()))).map(e => e.outerHTML.slice(0, 120));";
  private static final String OVERFLOW = "return document.documentElement.scrollWidth - document.documentElement"
      + ".clientWidth;";

  private static TestService service;
  private static final String OPERATOR = TestAuth.token("operator", Permission.ANN);

  @BeforeAll
  static void start() throws Exception {
    Models.assumePresent();
    service = TestService.start(ConsoleJobsBrowserTest.class);
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void anOperatorFixesARefusedUploadRunsAJobAndReadsItsResults() throws Exception {
    Path terrain1 = Fixtures.imagesDir().resolve("terrain1.jpg").toAbsolutePath().normalize();
    Path terrain2 = Fixtures.imagesDir().resolve("terrain2.png").toAbsolutePath().normalize();
    Assets.require(Files.isRegularFile(terrain1) && Files.isRegularFile(terrain2),
        "terrain1.jpg and terrain2.png in " + Fixtures.imagesDir().toAbsolutePath() + " (OSPREY_TEST_IMAGES)");
    Path work = Files.createTempDirectory("console-jobs-");
    Path notAnImage = Files.writeString(work.resolve("notes.jpg"), "field notes, not a JPEG\n".repeat(20));
    Path downloads = Files.createDirectories(work.resolve("downloads"));
    // A catalog colour for "person" (class 0 of the seeded catalog): the viewer and the chart must use it instead
    // of the palette's.
    assertEquals(200, Http.json("PUT", service.baseUrl() + "/classes/0", TestAuth.admin(), new JsonObject()
        .put("name", "person").put("color", "#FF00AA")).status());

    try (Browser browser = Browser.open(1280, 900, downloads)) {
      WebDriver driver = browser.driver();
      JavascriptExecutor js = browser.driver();
      WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
      wait.ignoring(org.openqa.selenium.StaleElementReferenceException.class); // lists re-render as events arrive

      // Sign in with a pasted token.
      driver.get(service.baseUrl() + "/console/#/signin");
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token"))).sendKeys(OPERATOR);
      driver.findElement(By.id("signin")).click();
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("[data-permission=ANN]")));
      wait.until(d -> d.getCurrentUrl().endsWith("#/detect"));
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#model option[value='" + MODEL + "']")));
      assertTrue(driver.findElement(By.id("model-info")).getText().contains("yolov8 · input 640×640 · 80 classes"),
          driver.findElement(By.id("model-info")).getText());
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#rule_set option[value=size_limits]")));

      // Dropping files lists them (a synthetic drop: what a drag from the desktop delivers, less the folder walk).
      js.executeScript("const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(10)], 'dropped.png',"
          + " {type: 'image/png'})); document.getElementById('dropzone').dispatchEvent(new DragEvent('drop',"
          + " {dataTransfer: dt, bubbles: true, cancelable: true}));");
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("tr[data-file='dropped.png']")));
      driver.findElement(By.id("clear-files")).click();
      wait.until(d -> d.findElements(By.cssSelector("#file-list tbody tr")).isEmpty());

      // A folder: its images are listed with their path in it, other files left out.
      Path flight = Files.createDirectories(work.resolve("flight-7"));
      Files.copy(terrain2, flight.resolve("terrain2.png"));
      Files.writeString(flight.resolve("readme.txt"), "not an image");
      driver.findElement(By.id("folder-input")).sendKeys(flight.toString());
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("tr[data-file='flight-7/terrain2.png']")));
      assertEquals(1, driver.findElements(By.cssSelector("#file-list tbody tr")).size(), "readme.txt left out");
      driver.findElement(By.id("clear-files")).click();
      wait.until(d -> d.findElements(By.cssSelector("#file-list tbody tr")).isEmpty());

      // Three files, one of them text named .jpg: the upload is refused, the bad file carries its own error.
      driver.findElement(By.id("files-input")).sendKeys(String.join("\n", terrain1.toString(),
          notAnImage.toString(), terrain2.toString()));
      wait.until(d -> d.findElements(By.cssSelector("#file-list tbody tr")).size() == 3);
      assertEquals(List.of(), js.executeScript(UNLABELLED), "controls without a label on the detect page");
      driver.findElement(By.id("run")).click();
      WebElement refused = wait.until(ExpectedConditions.visibilityOfElementLocated(
          By.cssSelector("tr[data-file='notes.jpg'] .file-error [data-code]")));
      assertEquals("INVALID_FORMAT", refused.getAttribute("data-code"));
      assertTrue(refused.getText().length() > "INVALID_FORMAT".length(), "the server's message is shown");
      assertEquals("", driver.findElement(By.cssSelector("tr[data-file='terrain1.jpg'] .file-error")).getText());
      WebElement error = driver.findElement(By.cssSelector("#run-status .error"));
      assertEquals("INVALID_FORMAT", error.getAttribute("data-code"));
      assertFalse(error.findElements(By.cssSelector("[data-request-id]")).isEmpty(), "the request id is shown");
      assertEquals(0, service.count("SELECT count(*) FROM uploads"), "a refused upload stores no row");
      assertEquals(0, service.count("SELECT count(*) FROM uploaded_files"));
      assertTrue(service.storedFiles().stream().noneMatch(f -> f.startsWith("uploads")), service.storedFiles()
          .toString());
      shot(browser, "detect-refused");

      // Remove it, choose fast settings, run.
      driver.findElement(By.cssSelector("button[aria-label='Remove notes.jpg']")).click();
      wait.until(d -> d.findElements(By.cssSelector("#file-list tbody tr")).size() == 2);
      new Select(driver.findElement(By.id("model"))).selectByValue(MODEL);
      type(driver, "confidence", "0.3");
      type(driver, "slice_width", "640");
      type(driver, "slice_height", "640");
      type(driver, "overlap_width_ratio", "0.1");
      type(driver, "overlap_height_ratio", "0.1");
      new Select(driver.findElement(By.id("postprocess_type"))).selectByValue("NMS");
      new Select(driver.findElement(By.id("postprocess_match_metric"))).selectByValue("IOU");
      shot(browser, "detect");
      // A short window from here on puts the gallery below the fold once the results show, whenever that is.
      driver.manage().window().setSize(new Dimension(1280, 560));
      driver.findElement(By.id("run")).click();
      wait.until(d -> d.getCurrentUrl().matches(".*#/jobs/[0-9a-f-]{36}$"));
      String jobId = driver.getCurrentUrl().replaceAll(".*#/jobs/", "");
      JsonObject stored = new JsonObject(configOf(jobId));
      assertEquals(MODEL, stored.getString("model"));
      assertEquals(640, stored.getJsonObject("sahi").getInteger("slice_width"));
      assertEquals("NMS", stored.getJsonObject("sahi").getString("postprocess_type"));

      // Progress from the event stream.
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#job-progress[data-frames]")));
      shot(browser, "job-progress");
      new WebDriverWait(driver, Duration.ofSeconds(120)).until(d -> "100".equals(
          d.findElement(By.id("job-progress")).getAttribute("data-percent")));
      assertEquals("completed", wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("job-status"),
          "completed")) ? "completed" : "");
      assertEquals(0L, js.executeScript("return performance.getEntriesByType('resource').filter(e =>"
          + " e.name.includes('/status')).length"), "progress came from events, not from polling");

      // The gallery: two results, thumbnails fetched only once visible.
      WebElement gallery = wait.until(ExpectedConditions.presenceOfElementLocated(By.id("gallery")));
      wait.until(d -> d.findElements(By.cssSelector("#gallery .tile")).size() == 2);
      assertTrue((Boolean) js.executeScript("return arguments[0].getBoundingClientRect().top > innerHeight + 100",
          gallery), "the gallery starts below the fold (precondition of the lazy-loading check)");
      String thumbnails = "return performance.getEntriesByType('resource').filter(e =>"
          + " e.name.includes('/thumbnail')).length";
      assertEquals(0L, js.executeScript(thumbnails), "no thumbnail fetched before it is visible");
      js.executeScript("arguments[0].scrollIntoView()", gallery);
      wait.until(d -> d.findElements(By.cssSelector("#gallery img[data-loaded=true]")).size() == 2);
      assertEquals(2L, js.executeScript(thumbnails), "each visible thumbnail fetched once");
      driver.manage().window().setSize(new Dimension(1280, 900));
      js.executeScript("window.scrollTo(0, 0)");
      shot(browser, "job-done");

      // The viewer draws as many boxes as the results JSON lists for the image, then fewer above 0.5.
      JsonObject results = Http.get(service.baseUrl() + "/api/v1/jobs/" + jobId + "/results", OPERATOR).json();
      JsonObject busiest = results.getJsonArray("results").stream().map(JsonObject.class::cast)
          .max(java.util.Comparator.comparingInt(r -> r.getInteger("detection_count"))).orElseThrow();
      int listed = busiest.getJsonArray("detections").size();
      assertTrue(listed > 0, "the photos have detections to draw: " + results.encode());
      driver.findElement(By.cssSelector(".tile[data-file-id='" + busiest.getString("file_id") + "']")).click();
      WebElement canvas = wait.until(ExpectedConditions.presenceOfElementLocated(
          By.cssSelector("#viewer-canvas[data-ready=true]")));
      assertEquals(busiest.getString("file_id"), canvas.getAttribute("data-file-id"));
      assertEquals(String.valueOf(listed), canvas.getAttribute("data-box-count"));
      assertEquals(busiest.getInteger("width"), ((Number) js.executeScript("return arguments[0].width", canvas))
          .intValue(), "drawn over the original at its own size");
      js.executeScript("const s = document.getElementById('min-confidence'); s.value = 0.5;"
          + " s.dispatchEvent(new Event('input'))");
      long above = busiest.getJsonArray("detections").stream().map(JsonObject.class::cast)
          .filter(d -> d.getDouble("confidence") >= 0.5).count();
      assertEquals(String.valueOf(above), canvas.getAttribute("data-box-count"));
      js.executeScript("const s = document.getElementById('min-confidence'); s.value = 0;"
          + " s.dispatchEvent(new Event('input'))");
      boolean people = results.getJsonArray("results").stream().map(JsonObject.class::cast)
          .flatMap(r -> r.getJsonArray("detections").stream()).anyMatch(d -> "person".equals(((JsonObject) d)
          .getString("class_name")));
      if (people) {
        assertEquals("#FF00AA", driver.findElement(By.cssSelector(".chart g[data-class=person] rect"))
            .getAttribute("fill").toUpperCase(), "the catalog's colour for person, not the palette's");
      }
      assertEquals(List.of(), js.executeScript(UNLABELLED), "controls without a label on the job page");
      shot(browser, "job-viewer");

      // COCO: the download the button saves parses, with every detection of the job.
      driver.findElement(By.id("download-coco")).click();
      Path coco = downloads.resolve(jobId + "-coco.json");
      wait.until(d -> Files.isRegularFile(coco) && noPartialDownloads(downloads));
      JsonObject doc = new JsonObject(Files.readString(coco));
      assertEquals(2, doc.getJsonArray("images").size());
      assertEquals(results.getJsonObject("summary").getLong("total_detections").intValue(),
          doc.getJsonArray("annotations").size());
      assertEquals("/api/v1/jobs/" + jobId + "/results?format=coco",
          driver.findElement(By.id("download-coco")).getAttribute("data-url"));

      // The jobs list, filtered, and the layout at tablet width.
      driver.findElement(By.cssSelector("[data-nav=jobs]")).click();
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("tr[data-job-id='" + jobId + "']")));
      new Select(driver.findElement(By.id("status-filter"))).selectByValue("failed");
      wait.until(ExpectedConditions.presenceOfElementLocated(By.id("jobs-empty")));
      assertTrue(driver.getCurrentUrl().endsWith("#/jobs?status=failed"), driver.getCurrentUrl());
      new Select(driver.findElement(By.id("status-filter"))).selectByValue("completed");
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("tr[data-job-id='" + jobId + "']")));
      assertEquals("Page 1 of 1 · 1 job(s)", driver.findElement(By.id("page-info")).getText());
      assertEquals(List.of(), js.executeScript(UNLABELLED), "controls without a label on the jobs page");
      shot(browser, "jobs-list");
      driver.manage().window().setSize(new Dimension(768, 1000));
      for (String page : List.of("#/jobs", "#/jobs/" + jobId, "#/detect")) {
        driver.get(service.baseUrl() + "/console/" + page);
        wait.until(d -> d.findElements(By.cssSelector("#view h1")).size() == 1);
        if (page.startsWith("#/jobs/")) {
          wait.until(d -> d.findElements(By.cssSelector("#gallery .tile")).size() == 2);
          shot(browser, "job-768");
        }
        assertEquals(0L, js.executeScript(OVERFLOW), page + " scrolls sideways at 768 px");
      }

      // The one refused upload is the test's own 400; anything else in the log is a defect.
      List<String> errors = browser.errors();
      assertEquals(1, errors.stream().filter(e -> e.contains("/api/v1/inference/upload") && e.contains("400"))
          .count(), errors.toString());
      assertEquals(List.of(), errors.stream().filter(e -> !(e.contains("/api/v1/inference/upload")
          && e.contains("400"))).toList());
    }
  }

  /** A screenshot without the passing sign-in notice or a focus ring: the screens as a reader of the docs sees them. */
  private static void shot(Browser browser, String name) throws java.io.IOException {
    browser.driver().executeScript("document.getElementById('notice').hidden = true;"
        + " if (document.activeElement) document.activeElement.blur();");
    browser.screenshot(name);
  }

  private static void type(WebDriver driver, String id, String value) {
    WebElement input = driver.findElement(By.id(id));
    input.clear();
    input.sendKeys(value);
  }

  private static String configOf(String jobId) throws Exception {
    try (var c = service.jdbc(); var s = c.prepareStatement("SELECT config::text FROM jobs WHERE job_id = ?::uuid")) {
      s.setString(1, jobId);
      try (var rs = s.executeQuery()) {
        assertTrue(rs.next(), "job " + jobId + " stored");
        return rs.getString(1);
      }
    }
  }

  private static boolean noPartialDownloads(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      return files.noneMatch(p -> p.toString().endsWith(".crdownload"));
    } catch (java.io.IOException e) {
      return false;
    }
  }
}
