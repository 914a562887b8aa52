package io.osprey.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.config.ConfigException;
import io.osprey.config.ConfigLoader;
import io.osprey.testing.Assets;
import io.osprey.testing.Await;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.File;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The browser contract (http.cors_origins, default-type SSE frames) checked twice: at the HTTP level (preflight,
 * headers, refusals in the error shape) and in a real headless Chromium, where a page served by another origin
 * lists annotations with {@code fetch} and a bearer token and receives a new annotation in
 * {@code EventSource.onmessage}. Chromium and chromedriver come from Debian ({@code scripts/prereqs.sh --browser});
 * without them the browser tests are skipped with a message, or fail when {@code CI=true}.
 */
@IntegrationTest
class BrowserContractTest {
  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  private static TestService service;
  private static HttpServer pages;
  private static String base;
  /** The origin allowed by http.cors_origins: the page server reached as 127.0.0.1. */
  private static String allowed;
  /** The same page server reached as localhost: another origin, not listed. */
  private static String refused;
  private static final String TOKEN = TestAuth.token("browser-user", Permission.ANN, Permission.DATASET);
  private static int seed = 71_000;
  /** Chromium profiles made by this class, removed after it. */
  private static final List<Path> PROFILES = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** The UI under test: lists a flight with fetch, follows it with EventSource, all of it from another origin. */
  private static final String PAGE = """
      <!doctype html>
      <html><head><meta charset="utf-8"><title>osprey browser contract</title></head><body>
      <script>
      const p = new URLSearchParams(location.hash.slice(1));
      const api = p.get('api'), token = p.get('token'), flight = p.get('flight');
      window.result = {list: null, listError: null, messages: [], open: false, errors: 0, state: -1};
      fetch(api + '/annotations?flightId=' + encodeURIComponent(flight) + '&page=1&pageSize=20',
            {headers: {'Authorization': 'Bearer ' + token}})
        .then(r => r.json().then(body => { window.result.list = {status: r.status, body: body,
              requestId: r.headers.get('X-Request-Id')}; }))
        .catch(e => { window.result.listError = String(e); });
      const es = new EventSource(api + '/annotations/events?flightId=' + encodeURIComponent(flight)
          + '&access_token=' + encodeURIComponent(token));
      es.onopen = () => { window.result.open = true; window.result.state = es.readyState; };
      es.onmessage = (m) => { window.result.messages.push({data: JSON.parse(m.data), id: m.lastEventId}); };
      es.onerror = () => { window.result.errors++; window.result.state = es.readyState; };
      // A non-simple request (PATCH, JSON body, Authorization): the browser preflights it.
      window.patchStatus = (id, status, done) => fetch(api + '/dataset/' + id + '/status', {method: 'PATCH',
            headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
            body: JSON.stringify({status: status})})
        .then(r => r.json().then(b => done({status: r.status, body: b, requestId: r.headers.get('X-Request-Id')})))
        .catch(e => done({error: String(e)}));
      </script></body></html>
      """;

  @BeforeAll
  static void start() throws Exception {
    pages = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    pages.createContext("/page.html", ex -> {
      byte[] body = PAGE.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "text/html; charset=utf-8");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    pages.start();
    int port = pages.getAddress().getPort();
    allowed = "http://127.0.0.1:" + port;
    refused = "http://localhost:" + port;
    service = TestService.start(BrowserContractTest.class, Role.API, new JsonObject()
        .put("http", new JsonObject().put("cors_origins", "https://ui.example.org, " + allowed)));
    base = service.baseUrl();
  }

  @AfterAll
  static void stop() throws Exception {
    for (Path profile : PROFILES) {
      try (var walk = Files.walk(profile)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    if (pages != null) {
      pages.stop(0);
    }
    if (service != null) {
      service.close();
    }
  }

  private static String create(String flight) throws Exception {
    Http.Response r = Http.json("POST", base + "/annotations", TOKEN, new JsonObject()
        .put("image", Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(seed++))).put("flightId", flight)
        .put("detections", new JsonArray().add(new JsonObject().put("classNum", 1).put("label", "car")
            .put("centerX", 0.5).put("centerY", 0.5).put("width", 0.1).put("height", 0.1))));
    assertEquals(201, r.status(), r.body());
    return r.json().getString("id");
  }

  private static Http.Response send(String method, String path, Map<String, String> headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
        .method(method, HttpRequest.BodyPublishers.noBody());
    headers.forEach(b::header);
    return Http.send(b.build());
  }

  private static Set<String> list(String header) {
    return header == null ? Set.of() : Set.of(header.toLowerCase().split("\\s*,\\s*"));
  }

  // ------------------------------------------------------------------ HTTP level

  @Test
  void preflightFromAListedOriginIsAnsweredWithoutATokenOnRestAndStreamRoutes() throws Exception {
    for (String path : List.of("/annotations", "/annotations/events", "/dataset/x/status",
        "/api/v1/jobs/00000000-0000-0000-0000-000000000000/events", "/api/v1/inference/upload", "/media")) {
      Http.Response r = send("OPTIONS", path, Map.of("Origin", allowed, "Access-Control-Request-Method", "PATCH",
          "Access-Control-Request-Headers", "authorization,content-type,last-event-id"));
      assertEquals(204, r.status(), path + ": " + r.body());
      assertEquals(allowed, r.header("Access-Control-Allow-Origin"), path);
      assertTrue(list(r.header("Access-Control-Allow-Methods")).containsAll(Set.of("get", "post", "put", "patch",
          "delete", "options")), r.header("Access-Control-Allow-Methods"));
      assertTrue(list(r.header("Access-Control-Allow-Headers")).containsAll(Set.of("authorization", "content-type",
          "last-event-id", "x-request-id", "accept")), r.header("Access-Control-Allow-Headers"));
      assertEquals("600", r.header("Access-Control-Max-Age"));
      assertNull(r.header("Access-Control-Allow-Credentials"), "no credentials mode: tokens, not cookies");
      assertNotNull(r.header("X-Request-Id"));
    }
  }

  @Test
  void answersToAListedOriginExposeRequestIdAndLocationEvenOnErrors() throws Exception {
    Http.Response ok = send("GET", "/annotations?flightId=none", Map.of("Origin", allowed,
        "Authorization", "Bearer " + TOKEN));
    assertEquals(200, ok.status(), ok.body());
    assertEquals(allowed, ok.header("Access-Control-Allow-Origin"));
    assertTrue(list(ok.header("Access-Control-Expose-Headers")).containsAll(Set.of("x-request-id", "location")),
        ok.header("Access-Control-Expose-Headers"));
    Http.Response unauthorized = send("GET", "/annotations", Map.of("Origin", "https://ui.example.org"));
    assertEquals(401, unauthorized.status());
    assertEquals("https://ui.example.org", unauthorized.header("Access-Control-Allow-Origin"),
        "a page can read why it was refused");
    assertEquals("UNAUTHORIZED", unauthorized.json().getString("code"));
  }

  @Test
  void anOriginNotListedIsRefusedInTheErrorShapeWithoutCorsHeaders() throws Exception {
    Http.Response opaque = send("GET", "/annotations", Map.of("Origin", "null", "Authorization", "Bearer " + TOKEN));
    assertEquals(403, opaque.status(), "a sandboxed page's opaque origin is not listed");
    assertEquals("ORIGIN_NOT_ALLOWED", opaque.json().getString("code"));
    for (String method : List.of("OPTIONS", "GET")) {
      Http.Response r = send(method, "/annotations", Map.of("Origin", refused, "Access-Control-Request-Method",
          "GET", "Authorization", "Bearer " + TOKEN, "X-Request-Id", "cors-refused-" + method));
      assertEquals(403, r.status(), method);
      assertEquals("ORIGIN_NOT_ALLOWED", r.json().getString("code"));
      assertEquals("cors-refused-" + method, r.json().getString("request_id"));
      assertEquals("cors-refused-" + method, r.header("X-Request-Id"));
      assertNull(r.header("Access-Control-Allow-Origin"));
    }
  }

  @Test
  void sameOriginAndNonBrowserRequestsAreUnaffected() throws Exception {
    Http.Response same = send("GET", "/annotations?flightId=none", Map.of("Origin", base,
        "Authorization", "Bearer " + TOKEN));
    assertEquals(200, same.status(), "a page of the service's own origin always passes: " + same.body());
    Http.Response plain = Http.get(base + "/health/live");
    assertEquals(200, plain.status());
    assertNull(plain.header("Access-Control-Allow-Origin"));
  }

  @Test
  void aStarAllowsEveryOriginWithoutCredentials() throws Exception {
    io.osprey.OspreyApp star = service.startPeer(Role.API, new JsonObject()
        .put("http", new JsonObject().put("cors_origins", "*")));
    try {
      String starBase = "http://127.0.0.1:" + star.port();
      Http.Response r = Http.send(HttpRequest.newBuilder(URI.create(starBase + "/annotations?flightId=none"))
          .header("Origin", "https://anywhere.example").header("Authorization", "Bearer " + TOKEN).GET().build());
      assertEquals(200, r.status(), r.body());
      assertEquals("*", r.header("Access-Control-Allow-Origin"));
      assertNull(r.header("Access-Control-Allow-Credentials"));
      Http.Response odd = Http.send(HttpRequest.newBuilder(URI.create(starBase + "/annotations?flightId=none"))
          .header("Origin", "null").header("Authorization", "Bearer " + TOKEN).GET().build());
      assertEquals(200, odd.status(), "* means any origin, the opaque one of a sandboxed page too");
      assertEquals("*", odd.header("Access-Control-Allow-Origin"));
    } finally {
      TestService.stop(star);
    }
  }

  @Test
  void corsOriginsMustBeOriginsOrAStar() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Map.of("OSPREY_HTTP_CORS_ORIGINS", "https://ui.example.org/app/")));
    assertTrue(e.getMessage().contains("OSPREY_HTTP_CORS_ORIGINS"), e.getMessage());
    assertEquals("", ConfigLoader.load(Map.of()).string("http.cors_origins"), "same origin only by default");
    ConfigLoader.load(Map.of("OSPREY_HTTP_CORS_ORIGINS", "*"));
    ConfigLoader.load(Map.of("OSPREY_HTTP_CORS_ORIGINS", "http://localhost:5173,https://ui.example.org"));
  }

  // ------------------------------------------------------------------ a real browser

  private static ChromeDriver browser() throws Exception {
    boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
    Assets.require(present,
        CHROMIUM + " or " + CHROMEDRIVER + " is missing (scripts/prereqs.sh --browser installs them)");
    Path profile = Files.createTempDirectory("osprey-chromium-");
    PROFILES.add(profile);
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toString());
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-extensions", "--user-data-dir=" + profile);
    // The driver is given explicitly: Selenium Manager (left out of the build) never looks for or downloads one.
    ChromeDriverService driverService = new ChromeDriverService.Builder()
        .usingDriverExecutable(new File(CHROMEDRIVER.toString())).usingAnyFreePort().build();
    return new ChromeDriver(driverService, options);
  }

  private static String pageUrl(String origin, String flight) {
    return origin + "/page.html#api=" + URLEncoder.encode(base, StandardCharsets.UTF_8) + "&token="
        + URLEncoder.encode(TOKEN, StandardCharsets.UTF_8) + "&flight=" + flight;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> result(JavascriptExecutor js) {
    return (Map<String, Object>) js.executeScript("return window.result;");
  }

  private static Map<String, Object> await(JavascriptExecutor js, String condition, long ms) throws Exception {
    long end = System.currentTimeMillis() + ms;
    while (System.currentTimeMillis() < end) {
      if (Boolean.TRUE.equals(js.executeScript("return !!(window.result && (" + condition + "));"))) {
        return result(js);
      }
      Thread.sleep(25);
    }
    throw new AssertionError("not within " + ms + " ms: " + condition + "; page state " + result(js));
  }

  @Test
  void aPageOnAnotherOriginListsWithFetchAndGetsANewAnnotationInOnmessageWithinTwoSeconds() throws Exception {
    String existing = create("browser");
    ChromeDriver driver = browser();
    try {
      driver.get(pageUrl(allowed, "browser"));
      JavascriptExecutor js = driver;
      Map<String, Object> state = await(js, "window.result.open && (window.result.list || window.result.listError)",
          20_000);
      assertNull(state.get("listError"), "fetch with a bearer token works cross-origin");
      Map<String, Object> listed = (Map<String, Object>) state.get("list");
      assertEquals(200L, listed.get("status"));
      assertNotNull(listed.get("requestId"), "X-Request-Id is exposed to the page");
      List<Map<String, Object>> items = (List<Map<String, Object>>) ((Map<String, Object>) listed.get("body"))
          .get("items");
      assertTrue(items.stream().anyMatch(i -> existing.equals(i.get("id"))), "the page lists the flight: " + items);

      String created = create("browser");
      long deadline = System.currentTimeMillis() + 2000;
      String condition = "window.result.messages.some(m => m.data.annotationId === '" + created + "')";
      Map<String, Object> got = null;
      while (System.currentTimeMillis() < deadline) {
        if (Boolean.TRUE.equals(js.executeScript("return " + condition + ";"))) {
          got = result(js);
          break;
        }
        Thread.sleep(20);
      }
      assertNotNull(got, "EventSource.onmessage got the new annotation within 2 s: " + result(js));
      Map<String, Object> message = ((List<Map<String, Object>>) got.get("messages")).stream()
          .filter(m -> created.equals(((Map<String, Object>) m.get("data")).get("annotationId"))).findFirst()
          .orElseThrow();
      Map<String, Object> data = (Map<String, Object>) message.get("data");
      assertEquals("annotation", data.get("type"));
      assertEquals("Created", data.get("operation"));
      assertNotEquals("", message.get("id"), "the frame's id reaches the page (lastEventId, used to resume)");

      // A preflighted request (PATCH with JSON and Authorization) from the page works too, and its event follows.
      Map<String, Object> patched = (Map<String, Object>) js.executeAsyncScript(
          "window.patchStatus(arguments[0], 'Validated', arguments[arguments.length - 1]);", created);
      assertNull(patched.get("error"), String.valueOf(patched));
      assertEquals(200L, patched.get("status"), String.valueOf(patched));
      await(js, "window.result.messages.some(m => m.data.annotationId === '" + created
          + "' && m.data.operation === 'Validated')", 5000);
    } finally {
      driver.quit();
    }
  }

  @Test
  void aPageOnAnOriginNotListedCanNeitherFetchNorStream() throws Exception {
    ChromeDriver driver = browser();
    try {
      driver.get(pageUrl(refused, "refused"));
      JavascriptExecutor js = driver;
      Map<String, Object> state = await(js, "window.result.listError && window.result.state === 2", 20_000);
      assertTrue(String.valueOf(state.get("listError")).contains("Failed to fetch"), String.valueOf(state));
      assertEquals(Boolean.FALSE, state.get("open"), "the EventSource never opened");
      create("refused");
      Await.holds("no message reaches a page of a refused origin", Duration.ofSeconds(1),
          () -> List.of().equals(result(js).get("messages")));
    } finally {
      driver.quit();
    }
  }
}
