package io.osprey.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.testing.Browser;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The console's shell as served by the API role: the redirect from {@code /}, caching and compression of its files,
 * the developer-token route's three refusals and its one yes, {@code /api/v1/me}, and signing in and out in a real
 * headless Chromium with the navigation following the token's permissions.
 */
@IntegrationTest
class ConsoleShellTest {
  private static TestService service;
  private static Path devToken;
  private static final String DEVELOPER = TestAuth.token("developer", Permission.ANN, Permission.DATASET,
      Permission.ADM);

  @BeforeAll
  static void start() throws Exception {
    // Developer mode as scripts/run.sh sets it up: a local key set file and a token file.
    Path dir = Files.createTempDirectory("osprey-dev-auth-");
    Path jwks = dir.resolve("jwks.json");
    Files.writeString(jwks, Http.get(TestAuth.jwksUrl()).body());
    devToken = dir.resolve("token");
    Files.writeString(devToken, DEVELOPER + "\n");
    service = TestService.start(ConsoleShellTest.class, Role.API, new JsonObject()
        .put("auth", new JsonObject().put("jwks_url", "").put("jwks_file", jwks.toString()))
        .put("console", new JsonObject().put("dev_token_file", devToken.toString())));
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void theRootRedirectsToTheConsole() throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(service.baseUrl() + "/")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(302, r.statusCode());
    assertEquals("/console/", r.headers().firstValue("Location").orElse(null));
  }

  @Test
  void consoleFilesAreCachedRevalidatedAndCompressed() throws Exception {
    HttpResponse<byte[]> page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create(service.baseUrl() + "/console/")).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, page.statusCode());
    assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
    assertTrue(page.headers().firstValue("Cache-Control").orElse("").contains("max-age=300"));
    String modified = page.headers().firstValue("Last-Modified").orElse(null);
    assertNotNull(modified, "a Last-Modified to revalidate with");
    HttpResponse<byte[]> again = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create(service.baseUrl() + "/console/")).header("If-Modified-Since", modified).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(304, again.statusCode());

    HttpResponse<byte[]> script = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create(service.baseUrl() + "/console/js/app.js")).header("Accept-Encoding", "gzip").build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, script.statusCode());
    assertEquals("gzip", script.headers().firstValue("Content-Encoding").orElse(null));
    assertTrue(script.headers().firstValue("Content-Type").orElse("").contains("javascript"));
  }

  @Test
  void theDeveloperTokenGoesOnlyToThisMachinesOwnOrigin() throws Exception {
    JsonObject offered = Http.get(service.baseUrl() + "/console/dev-token").json();
    assertEquals(true, offered.getBoolean("available"));
    assertEquals(DEVELOPER, offered.getString("token"));

    HttpResponse<String> crossOrigin = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create(service.baseUrl() + "/console/dev-token")).header("Origin", "http://evil.example").build(),
        HttpResponse.BodyHandlers.ofString());
    JsonObject refused = new JsonObject(crossOrigin.body());
    assertEquals(false, refused.getBoolean("available"));
    assertFalse(crossOrigin.body().contains(DEVELOPER));
    assertEquals("no-store", crossOrigin.headers().firstValue("Cache-Control").orElse(null));

    assertTrue(ConsoleModule.loopback("127.0.0.1"));
    assertTrue(ConsoleModule.loopback("::1"));
    assertFalse(ConsoleModule.loopback("192.0.2.7"));
  }

  @Test
  void meReportsTheVerifiedSubjectAndPermissions() throws Exception {
    JsonObject me = Http.get(service.baseUrl() + "/api/v1/me",
        TestAuth.token("ann-only", Permission.ANN)).json();
    assertEquals("ann-only", me.getString("subject"));
    assertEquals(List.of("ANN"), me.getJsonArray("permissions").getList());
    assertEquals(false, me.getBoolean("anonymous"));
    JsonObject anonymous = Http.get(service.baseUrl() + "/api/v1/me").json();
    assertEquals(true, anonymous.getBoolean("anonymous"));
    assertEquals(401, Http.get(service.baseUrl() + "/api/v1/me", "not-a-token").status());
  }

  @Test
  void signingInShowsThePermissionsAndHidesWhatTheTokenMayNotDo() throws Exception {
    try (Browser browser = Browser.open(1280, 900)) {
      var driver = browser.driver();
      WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(20));
      driver.get(service.baseUrl() + "/");
      wait.until(ExpectedConditions.urlContains("/console/#/signin"));
      wait.until(ExpectedConditions.elementToBeClickable(By.id("dev-token"))).click();
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("[data-permission=ADM]")));
      assertEquals("developer", driver.findElement(By.cssSelector("[data-subject]")).getText());
      assertTrue(driver.findElement(By.cssSelector("[data-nav=admin]")).isDisplayed());
      browser.screenshot("signed-in");

      driver.findElement(By.xpath("//button[text()='Sign out']")).click();
      WebElement token = wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token")));
      token.sendKeys(TestAuth.token("annotator", Permission.ANN));
      driver.findElement(By.id("signin")).click();
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("[data-permission=ANN]")));
      assertFalse(driver.findElement(By.cssSelector("[data-nav=admin]")).isDisplayed(), "Admin needs ADM");
      assertTrue(driver.findElement(By.cssSelector("[data-nav=annotations]")).isDisplayed());

      driver.findElement(By.xpath("//button[text()='Sign out']")).click();
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token"))).sendKeys("forged.token.here");
      driver.findElement(By.id("signin")).click();
      WebElement error = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(".error")));
      assertEquals("UNAUTHORIZED", error.getAttribute("data-code"));
      assertFalse(driver.findElements(By.cssSelector("[data-request-id]")).isEmpty(), "the request id is shown");
      browser.screenshot("signin-refused");

      // The refused sign-in is the page's own 401; anything else in the log is a defect.
      List<String> errors = browser.errors().stream().filter(e -> !e.contains("/api/v1/me")).toList();
      assertEquals(List.of(), errors);
      Number transferred = (Number) driver.executeScript("return performance.getEntriesByType('resource')"
          + ".concat(performance.getEntriesByType('navigation')).reduce((s, e) => s + e.transferSize, 0)");
      assertTrue(transferred.longValue() < 300_000, "first load transferred " + transferred + " bytes");
    }
  }
}
