package io.osprey.hostile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.RawHttp;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Osprey as a hostile client sees it: a real service process (its own JVM, so its memory can be read) takes hundreds
 * of malformed requests on the upload, annotation and media routes, forged tokens of every kind, and slow clients.
 * The contract under test: never a 5xx for bad input, every request answered within 5 s of its last byte, every
 * error in the one JSON shape with its request id, no temp files left, and memory that does not grow with what the
 * clients send. The figures are written to {@code target/hostile/report.md} (and recorded in docs/reliability.md).
 */
@IntegrationTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostileInputTest {
  /** Settings the slow-client test relies on: short, so the test is quick; the defaults are documented. */
  private static final int HEADER_TIMEOUT_SECONDS = 3;
  private static final int IDLE_TIMEOUT_SECONDS = 4;
  /**
   * Growth of the service's resident memory tolerated over the hostile run: the heap (-Xmx1g) grows to what the
   * largest bodies in flight need and stays, native buffers are bounded by the body limits and the decode budget.
   */
  private static final long RSS_GROWTH_BOUND_MB = 640;
  /** A second pass of the same requests may not add more than this to the RSS after a full GC. */
  private static final long REPEAT_GROWTH_BOUND_MB = 64;
  /** Nor more than this to the heap live after a full GC: nothing is kept per request. */
  private static final long REPEAT_HEAP_GROWTH_BOUND_MB = 16;

  private static TestService service;
  private static Process process;
  private static Path log;
  private static int port;
  private static ForgedTokens tokens;
  private static final Map<String, String> REPORT = Collections.synchronizedMap(new LinkedHashMap<>());

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(HostileInputTest.class, Role.API, new JsonObject());
    tokens = new ForgedTokens(TestAuth.keys());
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    log = Files.createTempFile("osprey-hostile-", ".log");
    process = service.spawn(Role.API, Map.of(
        "OSPREY_HTTP_PORT", Integer.toString(port),
        "OSPREY_AUTH_ISSUER", ForgedTokens.ISSUER,
        "OSPREY_AUTH_AUDIENCE", ForgedTokens.AUDIENCE,
        "OSPREY_HTTP_HEADER_TIMEOUT_SECONDS", Integer.toString(HEADER_TIMEOUT_SECONDS),
        "OSPREY_HTTP_IDLE_TIMEOUT_SECONDS", Integer.toString(IDLE_TIMEOUT_SECONDS)), log);
    TestService.awaitLive(base(), process, log, 60_000);
  }

  @AfterAll
  static void stop() throws Exception {
    if (process != null) {
      process.destroy();
      process.waitFor(20, TimeUnit.SECONDS);
      process.destroyForcibly();
    }
    if (service != null) {
      service.close();
    }
    Path out = Path.of("target", "hostile");
    Files.createDirectories(out);
    StringBuilder md = new StringBuilder("| measure | value |\n|---|---|\n");
    REPORT.forEach((k, v) -> md.append("| ").append(k).append(" | ").append(v).append(" |\n"));
    Files.writeString(out.resolve("report.md"), md.toString());
    System.out.println("hostile-input report:\n" + md);
  }

  private static String base() {
    return "http://127.0.0.1:" + port;
  }

  /** Resident memory of the service process, in MB. */
  private static long rssMb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
      }
    }
    throw new IllegalStateException("no VmRSS for the service process");
  }

  private static List<String> leftovers() throws IOException {
    List<String> found = new ArrayList<>();
    for (String dir : List.of("tmp", "images/.staging", "media/.staging")) {
      Path d = service.storage().resolve(dir);
      if (Files.isDirectory(d)) {
        try (Stream<Path> s = Files.walk(d)) {
          s.filter(Files::isRegularFile).forEach(p -> found.add(service.storage().relativize(p).toString()));
        }
      }
    }
    return found;
  }

  private static String cut(String s) {
    return s.length() <= 300 ? s : s.substring(0, 300) + "...";
  }

  /** Why a reply breaks the contract, or null when it keeps it. */
  private static String violation(HostileCases.Case c, RawHttp.Response r) {
    if (r.status() == RawHttp.HUNG) {
      return "no answer within the timeout";
    }
    if (r.status() == RawHttp.NO_ANSWER && HostileCases.CLOSED.equals(c.expected())) {
      return r.elapsedMs() <= (HEADER_TIMEOUT_SECONDS + 2) * 1000L ? null
          : "closed only after " + r.elapsedMs() + " ms";
    }
    if (r.status() == RawHttp.NO_ANSWER) {
      return "connection closed without an answer";
    }
    if (r.status() >= 500) {
      return "answered " + r.status() + ": " + cut(r.body());
    }
    if (r.elapsedMs() > 5000) {
      return "answered after " + r.elapsedMs() + " ms";
    }
    if (!c.acceptable().test(r.status())) {
      return "answered " + r.status() + ", expected " + c.expected() + ": " + cut(r.body());
    }
    if (r.status() >= 400) {
      if (r.header("X-Request-Id") == null) {
        return "error " + r.status() + " without X-Request-Id";
      }
      try {
        JsonObject body = new JsonObject(r.body());
        if (body.getString("code") == null || body.getString("message") == null
            || body.getString("request_id") == null) {
          return "error body without code, message and request_id: " + cut(r.body());
        }
      } catch (RuntimeException e) {
        return "error body is not JSON: '" + cut(r.body()) + "'";
      }
    }
    return null;
  }

  /** What one pass over the cases gave. */
  private record Pass(List<String> failures, int fiveXx, int hangs, long slowestMs, String slowestCase,
                      long seconds, Map<String, Integer> statuses) {
  }

  private static Pass run(List<HostileCases.Case> cases) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<String>> results = new ArrayList<>();
    Map<String, Integer> statuses = Collections.synchronizedMap(new LinkedHashMap<>());
    AtomicLong slowest = new AtomicLong();
    java.util.concurrent.atomic.AtomicReference<String> slowestCase = new java.util.concurrent.atomic.AtomicReference<>();
    long started = System.nanoTime();
    for (HostileCases.Case c : cases) {
      results.add(pool.submit(() -> {
        RawHttp.Response r = RawHttp.exchange(port, c.request(), 15_000);
        // Only answers count: a case expected to be closed (no request was made) is not an answer.
        if (r.status() > 0 && slowest.getAndAccumulate(r.elapsedMs(), Math::max) < r.elapsedMs()) {
          slowestCase.set(c.route() + " / " + c.name());
        }
        Matcher id = REQUEST_ID.matcher(new String(c.request(), 0, Math.min(400, c.request().length),
            StandardCharsets.ISO_8859_1));
        if (id.find()) {
          statuses.put(id.group(1), r.status());
        }
        String why = violation(c, r);
        return why == null ? null : c.route() + " / " + c.name() + ": " + why;
      }));
    }
    List<String> failures = new ArrayList<>();
    int fiveXx = 0;
    int hangs = 0;
    for (Future<String> f : results) {
      String why = f.get(5, TimeUnit.MINUTES);
      if (why != null) {
        failures.add(why);
        fiveXx += why.contains("answered 5") ? 1 : 0;
        hangs += why.contains("no answer") || why.contains("without an answer") ? 1 : 0;
      }
    }
    pool.shutdown();
    return new Pass(failures, fiveXx, hangs, slowest.get(), slowestCase.get(), (System.nanoTime() - started) / 1_000_000_000L,
        statuses);
  }

  private static final Pattern REQUEST_ID = Pattern.compile("X-Request-Id: (hostile-[a-z]-[0-9]+)");

  /**
   * The service's memory once it has settled: a full GC in it (jcmd), then its RSS and the heap it still uses (from
   * its own /metrics), both in MB. What survives a full GC is what the service keeps; RSS alone would also show the
   * heap the JVM chose to grow into.
   */
  private static long[] settledMemoryMb() throws Exception {
    Process gc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
        Long.toString(process.pid()), "GC.run").redirectErrorStream(true).start();
    gc.getInputStream().readAllBytes();
    gc.waitFor(30, TimeUnit.SECONDS);
    Thread.sleep(1000);
    double heap = 0;
    for (String line : Http.get(base() + "/metrics").body().split("\n")) {
      if (line.startsWith("jvm_memory_used_bytes{area=\"heap\"")) {
        heap += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return new long[] {rssMb(), (long) (heap / (1 << 20))};
  }

  @Test
  @Order(1)
  void malformedRequestsAreAnsweredWithin5sInTheErrorShapeAndNever5xx() throws Exception {
    byte[] jpeg = Fixtures.uniqueJpeg(14);
    List<HostileCases.Case> cases = new HostileCases(tokens.valid(), jpeg, 14, "hostile-a-").all();
    assertTrue(cases.size() >= 500, "at least 500 cases (have " + cases.size() + ")");
    // warm-up, so what is measured is what the hostile requests add, not class loading and pools
    for (int i = 0; i < 20; i++) {
      Http.get(base() + "/annotations?page=1", tokens.valid());
    }
    long before = rssMb();
    AtomicLong peak = new AtomicLong(before);
    ExecutorService sampler = Executors.newSingleThreadExecutor();
    Future<?> sampling = sampler.submit(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        try {
          peak.accumulateAndGet(rssMb(), Math::max);
          Thread.sleep(100);
        } catch (InterruptedException | IOException e) {
          return;
        }
      }
    });
    // The same cases twice: memory a pass leaves behind for good would show as growth in the second.
    Pass first = run(cases);
    long[] afterFirst = settledMemoryMb();
    Pass second = run(new HostileCases(tokens.valid(), jpeg, 14, "hostile-b-").all());
    long[] afterSecond = settledMemoryMb();
    sampling.cancel(true);
    sampler.shutdownNow();

    // Clean-up is immediate: nothing a rejected request wrote outlives it for long.
    List<String> left = leftovers();
    for (int i = 0; i < 50 && !left.isEmpty(); i++) {
      Thread.sleep(100);
      left = leftovers();
    }

    // The access log shows the status really sent.
    Map<String, Integer> statuses = new LinkedHashMap<>(first.statuses());
    statuses.putAll(second.statuses());
    String logText = Files.readString(log);
    List<String> logMismatches = new ArrayList<>();
    Matcher m = Pattern.compile("rid=(hostile-[a-z]-[0-9]+) \\S+ \\S+ (\\d{3}) ").matcher(logText);
    int logged = 0;
    while (m.find()) {
      Integer sent = statuses.get(m.group(1));
      logged++;
      if (sent != null && sent > 0 && sent != Integer.parseInt(m.group(2))) {
        logMismatches.add(m.group(1) + " logged " + m.group(2) + ", sent " + sent);
      }
    }
    List<String> failures = new ArrayList<>(first.failures());
    failures.addAll(second.failures());

    REPORT.put("malformed requests (x2 passes)", Integer.toString(cases.size()));
    REPORT.put("answers of 5xx", Integer.toString(first.fiveXx() + second.fiveXx()));
    REPORT.put("hangs or closes without an answer", Integer.toString(first.hangs() + second.hangs()));
    REPORT.put("contract violations (all kinds)", Integer.toString(failures.size()));
    Pass slower = first.slowestMs() >= second.slowestMs() ? first : second;
    REPORT.put("slowest answer after the last byte", slower.slowestMs() + " ms (" + slower.slowestCase() + ")");
    REPORT.put("run time per pass (4 clients)", first.seconds() + " s, " + second.seconds() + " s");
    REPORT.put("service RSS before / peak", before + " / " + peak.get() + " MB");
    REPORT.put("service RSS, heap after full GC: after pass 1 / after pass 2", afterFirst[0] + " MB, "
        + afterFirst[1] + " MB / " + afterSecond[0] + " MB, " + afterSecond[1] + " MB");
    REPORT.put("access-log lines checked / mismatches", logged + " / " + logMismatches.size());
    REPORT.put("temp files left", Integer.toString(left.size()));

    assertTrue(failures.isEmpty(), failures.size() + " of " + 2 * cases.size() + " requests broke the contract:\n"
        + String.join("\n", failures.subList(0, Math.min(60, failures.size()))));
    assertEquals(List.of(), left, "temp or staged files left behind by rejected requests");
    assertEquals(List.of(), logMismatches, "the access log must show the status really sent");
    assertTrue(afterSecond[1] - afterFirst[1] < REPEAT_HEAP_GROWTH_BOUND_MB, "live heap grew from " + afterFirst[1]
        + " to " + afterSecond[1] + " MB over a second pass of the same requests");
    assertTrue(afterSecond[0] - afterFirst[0] < REPEAT_GROWTH_BOUND_MB, "RSS grew from " + afterFirst[0] + " to "
        + afterSecond[0] + " MB over a second pass of the same requests");
    assertTrue(peak.get() - before < RSS_GROWTH_BOUND_MB, "RSS peaked at " + peak.get() + " MB from " + before);
  }

  @Test
  @Order(2)
  void forgedTokensAreRefusedWith401AndAValidOneIsAccepted() throws Exception {
    assertEquals(200, Http.get(base() + "/annotations", tokens.valid()).status(), "the honest token works");
    Map<String, String> forged = tokens.all();
    assertTrue(forged.size() >= 30, "at least 30 kinds (have " + forged.size() + ")");
    List<String> failures = new ArrayList<>();
    for (Map.Entry<String, String> e : forged.entrySet()) {
      boolean permissionOnly = e.getKey().startsWith("lower-case") || e.getKey().startsWith("permissions");
      // A genuine token whose permission names are wrong is still an identity: it may list its own jobs, and only
      // permission-guarded routes refuse it (403).
      for (String path : permissionOnly ? List.of("/annotations") : List.of("/annotations", "/api/v1/jobs")) {
        String request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + e.getValue()
            + "\r\nConnection: close\r\n\r\n";
        RawHttp.Response r = RawHttp.exchange(port, request.getBytes(StandardCharsets.ISO_8859_1), 10_000);
        boolean ok = r.status() == 401 || permissionOnly && r.status() == 403;
        String shape = violation(new HostileCases.Case(e.getKey(), path, new byte[0], s -> true, "401"), r);
        if (!ok || shape != null) {
          failures.add(path + " / " + e.getKey() + ": " + r.status() + " " + (shape == null ? cut(r.body()) : shape));
        }
      }
    }
    REPORT.put("forged token kinds (x2 routes)", Integer.toString(forged.size()));
    REPORT.put("forged tokens accepted", Integer.toString(failures.size()));
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  /** Opens a connection that sends the start of a request and then one header byte a second. */
  private static Socket slowloris() throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.getOutputStream().write("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return s;
  }

  @Test
  @Order(3)
  void slowClientsAreCutOffWhileOthersAreServed() throws Exception {
    int count = 200;
    List<Socket> sockets = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      sockets.add(slowloris());
    }
    // A slow body: headers complete, then 10 bytes of a declared 100000, then nothing.
    Socket slowBody = new Socket();
    slowBody.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    slowBody.getOutputStream().write(("POST /annotations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokens.valid()
        + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"image\":").getBytes(
        StandardCharsets.US_ASCII));
    long start = System.nanoTime();
    int[] closedAt = new int[count];
    boolean[] closed = new boolean[count];
    long servedMax = 0;
    int open = count;
    while (open > 0 && System.nanoTime() - start < (HEADER_TIMEOUT_SECONDS + 10) * 1_000_000_000L) {
      long t = System.nanoTime();
      Http.Response r = Http.get(base() + "/health/live");
      servedMax = Math.max(servedMax, (System.nanoTime() - t) / 1_000_000);
      assertEquals(200, r.status());
      for (int i = 0; i < count; i++) {
        if (closed[i]) {
          continue;
        }
        Socket s = sockets.get(i);
        try {
          s.getOutputStream().write('a');
          s.getOutputStream().flush();
          s.setSoTimeout(1);
          int b = s.getInputStream().read();
          if (b == -1 || b == 'H') {
            closed[i] = true;
          }
        } catch (SocketTimeoutException stillOpen) {
          // the server is still waiting for the headers
        } catch (IOException reset) {
          closed[i] = true;
        }
        if (closed[i]) {
          closedAt[i] = (int) ((System.nanoTime() - start) / 1_000_000);
          open--;
        }
      }
      Thread.sleep(1000);
    }
    int latest = 0;
    for (int i = 0; i < count; i++) {
      latest = Math.max(latest, closedAt[i]);
    }
    boolean bodyCut = waitClosed(slowBody, (IDLE_TIMEOUT_SECONDS + 6) * 1000);
    long bodyCutMillis = (System.nanoTime() - start) / 1_000_000;
    for (Socket s : sockets) {
      s.close();
    }
    slowBody.close();
    REPORT.put("slowloris sockets / still open after " + (HEADER_TIMEOUT_SECONDS + 10) + " s", count + " / " + open);
    REPORT.put("last slowloris socket closed after", latest + " ms (header timeout " + HEADER_TIMEOUT_SECONDS + " s)");
    REPORT.put("slowest /health/live meanwhile", servedMax + " ms");
    REPORT.put("stalled body cut after", bodyCut ? bodyCutMillis + " ms (idle timeout " + IDLE_TIMEOUT_SECONDS
        + " s)" : "never");
    assertEquals(0, open, "slowloris sockets still open");
    assertTrue(bodyCut, "a stalled body must be cut off by the idle timeout");
    assertTrue(servedMax < 2000, "ordinary requests are served while slow clients hang on (" + servedMax + " ms)");
  }

  private static boolean waitClosed(Socket s, int millis) throws IOException {
    s.setSoTimeout(millis);
    try {
      InputStream in = s.getInputStream();
      while (in.read() != -1) {
        // an answer (408 or 400) is fine; what counts is that the server lets go of the socket
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException reset) {
      return true;
    }
  }
}
