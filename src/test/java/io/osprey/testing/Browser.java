package io.osprey.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.logging.Level;
import java.util.stream.Stream;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * A headless Debian Chromium driven through Debian's {@code /usr/bin/chromedriver} (never a downloaded one), with
 * its own throw-away profile and the browser log kept, so tests can assert that a page logged no error. Without the
 * packages the test is skipped with a message, or fails when {@code CI=true} ({@link Assets#require}).
 */
public final class Browser implements AutoCloseable {
  public static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  public static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  private final ChromeDriver driver;
  private final Path profile;
  private final List<LogEntry> log = new ArrayList<>();

  private Browser(ChromeDriver driver, Path profile) {
    this.driver = driver;
    this.profile = profile;
  }

  /** A browser window of {@code width}×{@code height} CSS pixels. */
  public static Browser open(int width, int height) throws IOException {
    return open(width, height, null);
  }

  /**
   * A browser window of {@code width}×{@code height} CSS pixels that saves downloads into {@code downloads}
   * without asking (null: the profile's default folder).
   */
  public static Browser open(int width, int height, Path downloads) throws IOException {
    Assets.require(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
        "Debian's chromium and chromium-driver (scripts/prereqs.sh --browser installs them)");
    Path profile = Files.createTempDirectory("osprey-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--user-data-dir=" + profile, "--window-size=" + width + "," + height);
    if (downloads != null) {
      options.setExperimentalOption("prefs", java.util.Map.of(
          "download.default_directory", downloads.toAbsolutePath().toString(),
          "download.prompt_for_download", false));
    }
    LoggingPreferences logs = new LoggingPreferences();
    logs.enable(LogType.BROWSER, Level.ALL);
    options.setCapability("goog:loggingPrefs", logs);
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
    return new Browser(new ChromeDriver(service, options), profile);
  }

  public ChromeDriver driver() {
    return driver;
  }

  /** Every browser log entry so far (the driver hands each out once; they are kept here). */
  public List<LogEntry> log() {
    driver.manage().logs().get(LogType.BROWSER).forEach(log::add);
    return List.copyOf(log);
  }

  /** The browser log's SEVERE entries so far: console.error calls, failed loads, uncaught exceptions. */
  public List<String> errors() {
    return log().stream().filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
        .map(e -> e.getLevel() + " " + e.getMessage()).toList();
  }

  /** Saves the window as {@code target/console-screenshots/<name>.png}. */
  public Path screenshot(String name) throws IOException {
    Path dir = Path.of("target", "console-screenshots");
    Files.createDirectories(dir);
    Path file = dir.resolve(name + ".png");
    Files.write(file, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
    return file;
  }

  @Override
  public void close() {
    try {
      driver.quit();
    } finally {
      try (Stream<Path> files = Files.walk(profile)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException e) {
        // a profile left in /tmp is harmless
      }
    }
  }
}
