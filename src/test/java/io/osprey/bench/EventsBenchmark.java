package io.osprey.bench;

import io.osprey.Role;
import io.osprey.auth.Permission;
import io.osprey.bus.Bus;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Live-event delivery latency (issues 9, 16, 19): N concurrent SSE subscribers on GET /annotations/events, a producer
 * changing an annotation's status every 100 ms; latency = subscriber receipt − the event's {@code time}, which is
 * stamped as the change is built, before its commit. So it covers the commit, the Redis log append, the hub's read of
 * the log and the fan-out to every connection.
 *
 * <p>Where the time goes is printed too: per event, "to hub" is the event's {@code time} to the moment a probe
 * consumer on the hub's local address ({@link Bus#EVENTS_ANNOTATIONS}) sees it (commit + log append + log read),
 * and "spread" is the first to the last subscriber's receipt of it (the fan-out: the service's writes and the
 * clients' reads of 2,000 sockets).
 *
 * <p>The subscribers are Vert.x HTTP clients in this JVM (on the same cores as the service: on a 2-core machine the
 * clients' reads compete with the service's writes, and that is part of what is measured). Each client does as
 * little as it can: it takes the time, finds the event's {@code time} in the frame and keeps both in an array of its
 * own; the timestamps are parsed after the run. (The client before this one decoded every frame's JSON as it
 * arrived, 2,000 × 10 decodes a second, all on one client event loop: the later subscribers' receipts waited for the
 * earlier ones' parsing, so it measured its own work as much as the service's.)
 *
 * <p>Each run warms up first (at least --warmup events, then more until the JIT compiler has settled, at most a
 * minute; not counted): the first events after start-up run in the interpreter
 * and compiler threads, on a machine whose 2 cores are also the clients'.
 * Usage: {@code scripts/bench-events.sh [--subscribers 100,1000,2000] [--events 30] [--warmup 10]
 * [--instances 1,2]} (--instances: http.instances values, one service each; default: the configured one).
 */
public final class EventsBenchmark {
  private static boolean threadsShown;
  /** Set once the warm-up's deliveries have all arrived: the subscribers record from then on. */
  private static volatile boolean measuring;
  private static final byte[] TIME = "\"time\":\"".getBytes(StandardCharsets.US_ASCII);
  /** The ids of the threads the clients' handlers ran on (to tell their CPU time from the service's). */
  private static final java.util.Set<Long> CLIENT_THREADS = ConcurrentHashMap.newKeySet();
  private static final byte[] ANNOTATION = "\"type\":\"annotation\"".getBytes(StandardCharsets.US_ASCII);

  public static void main(String[] args) throws Exception {
    String counts = "100,1000,2000";
    int events = 30;
    int warmup = 10;
    String instances = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--subscribers" -> counts = args[++i];
        case "--events" -> events = Integer.parseInt(args[++i]);
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--instances" -> instances = args[++i];
        case "--threads" -> threadsShown = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    System.out.printf("machine: %d cores, java %s; %d events per run after %d warm-up events, one every 100 ms%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), events, warmup);
    List<Integer> variants = new ArrayList<>();
    if (instances == null) {
      variants.add(null);
    } else {
      for (String s : instances.split(",")) {
        variants.add(Integer.parseInt(s.strip()));
      }
    }
    List<String> summary = new ArrayList<>();
    for (Integer inst : variants) {
      JsonObject overrides = inst == null ? new JsonObject()
          : new JsonObject().put("http", new JsonObject().put("instances", inst));
      try (TestService service = TestService.start(EventsBenchmark.class, Role.API, overrides)) {
        int configured = service.config().integer("http.instances");
        String label = "http.instances " + (configured > 0 ? configured
            : Runtime.getRuntime().availableProcessors() + " (= cores)");
        for (String c : counts.split(",")) {
          summary.add(label + ", " + run(service, Integer.parseInt(c.strip()), events, warmup));
        }
      }
    }
    System.out.println("summary:");
    summary.forEach(s -> System.out.println("  " + s));
    System.exit(0);
  }

  /** One measurement: n subscribers, warm-up, then {@code events} measured events. Returns its summary line. */
  private static String run(TestService service, int n, int events, int warmup) throws Exception {
    String token = TestAuth.annotator();
    String curator = TestAuth.token("bench", Permission.DATASET);
    Http.Response created = Http.json("POST", service.baseUrl() + "/annotations", token, new JsonObject()
        .put("image", java.util.Base64.getEncoder().encodeToString(Fixtures.uniqueJpeg(1)))
        .put("detections", new JsonArray()));
    String id = created.json().getString("id");
    // The probe: when the hub publishes each event to this instance's streams.
    Map<String, Long> hubSeen = new ConcurrentHashMap<>();
    MessageConsumer<Bus.LoggedEvent> probe = service.app().vertx().eventBus().localConsumer(
        Bus.EVENTS_ANNOTATIONS, m -> hubSeen.put(m.body().event().getString("time"), nowMicros()));
    probe.completion().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    int clientLoops = Runtime.getRuntime().availableProcessors();
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(clientLoops));
    List<Subscriber> subscribers = new ArrayList<>();
    try {
      HttpClient client = vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
          .setDefaultPort(service.app().port()).setKeepAlive(true), new PoolOptions().setHttp1MaxSize(n + 10));
      AtomicInteger received = new AtomicInteger();
      CountDownLatch connected = new CountDownLatch(n);
      // A connection lives on the event loop of the context that opened it: opened from this thread, all of them
      // would share one loop (one thread reading 2,000 sockets). Opened from one context per client event loop, they
      // spread over all of them.
      // (getOrCreateContext on this thread would give the same context each time: a verticle per loop does not.)
      List<Context> loops = Collections.synchronizedList(new ArrayList<>());
      vertx.deployVerticle(() -> new VerticleBase() {
        @Override
        public Future<?> start() {
          loops.add(context);
          return Future.succeededFuture();
        }
      }, new DeploymentOptions().setInstances(clientLoops)).toCompletionStage().toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
      for (int i = 0; i < n; i++) {
        Subscriber s = new Subscriber(events, received);
        loops.get(i % loops.size()).runOnContext(v -> client.request(HttpMethod.GET, "/annotations/events?mediaId="
                + id)
            .compose(req -> req.putHeader("Authorization", "Bearer " + token).send())
            .onSuccess(res -> {
              synchronized (subscribers) {
                subscribers.add(s);
              }
              connected.countDown();
              res.handler(s::onData);
            }).onFailure(e -> connected.countDown()));
      }
      connected.await(300, TimeUnit.SECONDS);
      int open;
      synchronized (subscribers) {
        open = subscribers.size();
      }
      Thread.sleep(1000);
      // Warm-up: at least --warmup events, then more until the JIT compiler has settled (under 10 % of the last
      // second spent compiling) or a minute has passed. Its deliveries all arrive before measuring starts, so none
      // is counted as a measured one.
      java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
      long warmStart = System.currentTimeMillis();
      long[] compiled = new long[11];
      int sent = 0;
      for (; sent < warmup || (System.currentTimeMillis() - warmStart < 60_000
          && jit.getTotalCompilationTime() - compiled[(sent + 1) % compiled.length] > 100); sent++) {
        compiled[sent % compiled.length] = jit.getTotalCompilationTime();
        change(service, id, curator, sent);
      }
      long deadline = System.currentTimeMillis() + 30_000;
      while (received.get() < (long) open * sent && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      System.out.printf("warm-up: %d events in %.1f s%n", sent, (System.currentTimeMillis() - warmStart) / 1000.0);
      measuring = true;
      Cpu cpuStart = Cpu.now();
      for (int e = 0; e < events; e++) {
        change(service, id, curator, sent + e);
      }
      deadline = System.currentTimeMillis() + 30_000;
      while (received.get() < (long) open * (sent + events) && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      int got = received.get() - open * sent; // a volatile read: the subscribers' arrays are visible from here on
      measuring = false;
      Cpu cpu = Cpu.now().minus(cpuStart);
      // Receipts per event (keyed by its time), measured events only.
      Map<String, List<Long>> byEvent = new HashMap<>();
      List<String> order = new ArrayList<>();
      synchronized (subscribers) {
        for (Subscriber s : subscribers) {
          for (int k = 0; k < s.count; k++) {
            List<Long> r = byEvent.get(s.times[k]);
            if (r == null) {
              r = new ArrayList<>();
              byEvent.put(s.times[k], r);
              order.add(s.times[k]);
            }
            r.add(s.at[k]);
          }
        }
      }
      // Instant.toString drops trailing zeros ("...:12.34Z"), so the text does not sort: order by the instant.
      order.sort(java.util.Comparator.comparing(Instant::parse));
      List<Double> latencies = new ArrayList<>();
      List<Double> toHub = new ArrayList<>();
      List<Double> spread = new ArrayList<>();
      List<Double> worstPerEvent = new ArrayList<>();
      for (String t : order) {
        long t0 = micros(Instant.parse(t));
        List<Long> r = byEvent.get(t);
        Collections.sort(r);
        r.forEach(x -> latencies.add((x - t0) / 1000.0));
        Long hub = hubSeen.get(t);
        if (hub != null) {
          toHub.add((hub - t0) / 1000.0);
        }
        spread.add((r.get(r.size() - 1) - r.get(0)) / 1000.0);
        worstPerEvent.add((r.get(r.size() - 1) - t0) / 1000.0);
      }
      Collections.sort(latencies);
      Collections.sort(toHub);
      Collections.sort(spread);
      long expected = (long) open * events;
      // scripts/bench-architecture.sh reads the first line (p50, p99, max): keep its shape.
      String line = String.format("subscribers %5d (%d connected): %d deliveries of %d expected; latency p50 %.0f ms,"
          + " p99 %.0f ms, max %.0f ms", n, open, latencies.size(), expected, pct(latencies, 50),
          pct(latencies, 99), pct(latencies, 100));
      String where = String.format("per event: to hub p50 %.0f, worst %.0f; fan-out spread p50 %.0f, worst %.0f"
          + " (ms)", pct(toHub, 50), pct(toHub, 100), pct(spread, 50), pct(spread, 100));
      System.out.println(line + (got < (long) open * events ? " (some deliveries missing)" : ""));
      System.out.println("  " + where);
      int deliveries = Math.max(1, latencies.size());
      System.out.printf("  CPU per measured event: service event loops %.1f ms, clients %.1f ms, rest of the JVM"
          + " (GC, JIT, producer) %.1f ms; per delivery: service %.1f us (%.1f in the kernel), clients %.1f us;"
          + " GC pauses %.0f ms and JIT compiling %.0f ms in %d events; allocated per delivery: service %.0f B,"
          + " clients %.0f B%n",
          cpu.service / 1e6 / events, cpu.clients / 1e6 / events, cpu.rest / 1e6 / events,
          cpu.service / 1e3 / deliveries, (cpu.service - cpu.serviceUser) / 1e3 / deliveries,
          cpu.clients / 1e3 / deliveries, cpu.gcPauses / 1e6, cpu.jit / 1e6, events, (double) cpu.serviceAlloc / deliveries,
          (double) cpu.clientAlloc / deliveries);
      if (threadsShown) {
        System.out.println("  CPU per measured event by thread (ms): " + cpu.top(12, events));
      }
      System.out.println("  worst receipt per event (ms): " + worstPerEvent.stream()
          .map(x -> String.format("%.0f", x)).reduce((a, b) -> a + " " + b).orElse(""));
      client.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      return line + "; " + where;
    } finally {
      probe.unregister();
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      Thread.sleep(1000);
    }
  }

  /**
   * One SSE connection's receipts: the k-th annotation event's {@code time} and when it arrived. Touched only by its
   * connection's event loop until the run ends ({@code received}, an atomic, publishes the writes).
   */
  private static final class Subscriber {
    final long[] at;
    final String[] times;
    final AtomicInteger received;
    int count;
    private Buffer partial;
    private boolean threadKnown;

    Subscriber(int capacity, AtomicInteger received) {
      this.at = new long[capacity];
      this.times = new String[capacity];
      this.received = received;
    }

    void onData(Buffer buf) {
      long now = nowMicros();
      if (!threadKnown) {
        threadKnown = true;
        CLIENT_THREADS.add(Thread.currentThread().getId());
      }
      Buffer b = partial == null ? buf : partial.appendBuffer(buf);
      int start = 0;
      int len = b.length();
      for (int i = 0; i + 1 < len; i++) {
        if (b.getByte(i) == '\n' && b.getByte(i + 1) == '\n') {
          frame(b, start, i, now);
          start = i + 2;
          i++;
        }
      }
      partial = start >= len ? null : b.getBuffer(start, len);
    }

    /** An annotation frame's data starts {@code {"type":"annotation",}; other frames are skipped. */
    private void frame(Buffer b, int from, int to, long now) {
      int t = indexOf(b, TIME, from, to);
      if (t < 0 || indexOf(b, ANNOTATION, from, to) < 0) {
        return;
      }
      if (!measuring) {
        received.incrementAndGet(); // a warm-up event
        return;
      }
      int s = t + TIME.length;
      int e = s;
      while (e < to && b.getByte(e) != '"') {
        e++;
      }
      if (count < at.length) {
        at[count] = now;
        times[count] = b.getString(s, e, "US-ASCII");
        count++;
        received.incrementAndGet();
      }
    }

    private static int indexOf(Buffer b, byte[] what, int from, int to) {
      outer:
      for (int i = from; i + what.length <= to; i++) {
        for (int j = 0; j < what.length; j++) {
          if (b.getByte(i + j) != what[j]) {
            continue outer;
          }
        }
        return i;
      }
      return -1;
    }
  }

  /**
   * CPU time (ns, user + system) of the service's event-loop threads, of the clients' and of the rest of the JVM
   * (GC and compiler threads, the producer) since the JVM started. CPU time, unlike latency, holds still when other
   * processes share the cores, so it compares variants measured on a busy machine.
   */
  private record Cpu(long service, long serviceUser, long clients, long rest, long gcPauses, long serviceAlloc,
                     long clientAlloc, long jit, Map<String, Long> byThread) {
    static Cpu now() {
      Map<String, Long> byThread = new HashMap<>();
      java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
      long service = 0;
      long serviceUser = 0;
      long clients = 0;
      long serviceAlloc = 0;
      long clientAlloc = 0;
      com.sun.management.ThreadMXBean alloc = (com.sun.management.ThreadMXBean) threads;
      long all = 0;
      for (java.lang.management.ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
        if (t == null) {
          continue;
        }
        long ns = Math.max(0, threads.getThreadCpuTime(t.getThreadId()));
        all += ns;
        byThread.merge(t.getThreadName() + (CLIENT_THREADS.contains(t.getThreadId()) ? " (client)" : ""), ns,
            Long::sum);
        if (CLIENT_THREADS.contains(t.getThreadId())) {
          clients += ns;
          clientAlloc += Math.max(0, alloc.getThreadAllocatedBytes(t.getThreadId()));
        } else if (t.getThreadName().startsWith("vert.x-eventloop-thread")) {
          service += ns;
          serviceAlloc += Math.max(0, alloc.getThreadAllocatedBytes(t.getThreadId()));
          serviceUser += Math.max(0, threads.getThreadUserTime(t.getThreadId()));
        }
      }
      long process = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
          .getOperatingSystemMXBean()).getProcessCpuTime();
      byThread.put("(not a Java thread: GC, compiler)", process - all);
      long gc = 0;
      for (java.lang.management.GarbageCollectorMXBean b : java.lang.management.ManagementFactory
          .getGarbageCollectorMXBeans()) {
        gc += Math.max(0, b.getCollectionTime()) * 1_000_000L;
      }
      long jit = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime() * 1_000_000L;
      return new Cpu(service, serviceUser, clients, process - service - clients, gc, serviceAlloc, clientAlloc, jit,
          byThread);
    }

    Cpu minus(Cpu o) {
      Map<String, Long> d = new HashMap<>();
      byThread.forEach((k, v) -> d.put(k, v - o.byThread.getOrDefault(k, 0L)));
      return new Cpu(service - o.service, serviceUser - o.serviceUser, clients - o.clients, rest - o.rest,
          gcPauses - o.gcPauses, serviceAlloc - o.serviceAlloc, clientAlloc - o.clientAlloc, jit - o.jit, d);
    }

    String top(int n, int events) {
      return byThread.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).limit(n)
          .map(e -> String.format("%s %.1f", e.getKey(), e.getValue() / 1e6 / events))
          .reduce((a, b) -> a + ", " + b).orElse("");
    }
  }

  /** One annotation status change (the n-th), then 100 ms: one event every 100 ms. */
  private static void change(TestService service, String id, String curator, int n) throws Exception {
    Http.json("PATCH", service.baseUrl() + "/dataset/" + id + "/status", curator,
        new JsonObject().put("status", n % 2 == 0 ? "Validated" : "Edited"));
    Thread.sleep(100);
  }

  static long nowMicros() {
    return micros(Instant.now());
  }

  static long micros(Instant i) {
    return i.getEpochSecond() * 1_000_000L + i.getNano() / 1000;
  }

  private static double pct(List<Double> sorted, int p) {
    if (sorted.isEmpty()) {
      return Double.NaN;
    }
    int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }
}
