package io.osprey.bench;

import com.rabbitmq.stream.Consumer;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.Message;
import com.rabbitmq.stream.OffsetSpecification;
import com.rabbitmq.stream.Producer;
import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.outbox.StreamPublisher;
import io.osprey.testing.Fixtures;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Outbox drain figures against the real broker (issue 8):
 * <ol>
 *   <li>raw floor: the stream client's own producer publishing messages of the drain's size, confirms awaited
 *   (what stream-perf-test measures; that tool is not on Maven Central and could not be fetched here);</li>
 *   <li>drain rate: N annotations created with no drainer running, their outbox rows copied K times over in SQL
 *   (each copy a Created message with the same body and image file, so the backlog is N*K real messages without
 *   N*K HTTP creates), then a drainer started: rows per second until the outbox is empty;</li>
 *   <li>create-to-stream latency: a consumer on the stream, annotations created one at a time; from the create
 *   request being sent to the message reaching the consumer.</li>
 * </ol>
 * The raw producer publishes as many messages as the drain did, in the same run, and the last lines are the
 * ratio drain/raw and each goal of issue 19 (drain >= 20,000 messages/s, >= 0.2x raw, create-to-stream p99 < 50
 * ms) met or not.
 * Usage: {@code scripts/bench-outbox.sh [--rows N] [--copies K] [--batch B] [--latency-samples N]}
 */
public final class OutboxBenchmark {
  public static void main(String[] args) throws Exception {
    int created = 1000;
    int copies = 30;
    int batch = 0;
    int samples = 300;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rows" -> created = Integer.parseInt(args[++i]);
        case "--copies" -> copies = Integer.parseInt(args[++i]);
        case "--batch" -> batch = Integer.parseInt(args[++i]);
        case "--latency-samples" -> samples = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    final int rows = created * copies;
    byte[][] images = new byte[created + samples + 50][];
    for (int i = 0; i < images.length; i++) {
      images[i] = Fixtures.uniqueJpeg(900_000 + i);
    }
    JsonArray detections = new JsonArray();
    for (int i = 0; i < 5; i++) {
      detections.add(new JsonObject().put("classNum", i).put("label", "c" + i).put("centerX", 0.2 + 0.1 * i)
          .put("centerY", 0.5).put("width", 0.05).put("height", 0.05).put("confidence", 0.8));
    }
    // The drainer logs where each run's time went (io.osprey.outbox.DrainTimes, at DEBUG).
    ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.osprey.outbox.DrainTimes"))
        .setLevel(ch.qos.logback.classic.Level.DEBUG);
    String token = TestAuth.annotator();
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    try (TestService service = TestService.start(OutboxBenchmark.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", false)))) {
      String url = service.baseUrl() + "/annotations";
      // 2. Backlog first (no drainer), then one drainer in a peer instance.
      for (int i = 0; i < created; i++) {
        create(client, url, token, images[i], detections);
      }
      try (var c = service.jdbc(); var s = c.createStatement()) {
        // The originals are kept aside for the second backlog.
        s.execute("CREATE TABLE bench_outbox_originals AS SELECT * FROM annotation_outbox");
        // The copies follow the originals in id order, as a burst of later changes would.
        s.execute("INSERT INTO annotation_outbox (operation, annotation_ids, payload, created_at)"
            + " SELECT o.operation, o.annotation_ids, o.payload, o.created_at FROM annotation_outbox o,"
            + " generate_series(2, " + copies + ") g ORDER BY g, o.id");
      }
      JsonObject outbox = new JsonObject().put("enabled", true);
      if (batch > 0) {
        outbox.put("batch_size", batch);
      }
      OspreyApp drainer = service.startPeer(Role.API, new JsonObject().put("outbox", outbox));
      Drain cold = drain(service);
      int size = messageSize(service);
      System.out.printf("machine: %d cores, java %s; message body ~%d bytes (Created with a %d-byte JPEG, 5 detections)%n",
          Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), size, images[0].length);
      String batchSize = batch > 0 ? Integer.toString(batch) : "from conf/osprey.json";
      cold.print(String.format("drain: %d rows (%d created x %d copies, batch %s)", cold.rows, created, copies,
          batchSize));
      // 2b. The same backlog again, for the same drainer: its code is compiled by now (a drainer that has run for a
      // while), where the first drain paid for the JIT compiler on these 2 cores.
      try (var c = service.jdbc(); var s = c.createStatement()) {
        s.execute("INSERT INTO annotation_outbox (operation, annotation_ids, payload, created_at)"
            + " SELECT o.operation, o.annotation_ids, o.payload, o.created_at FROM bench_outbox_originals o,"
            + " generate_series(1, " + copies + ") g ORDER BY g, o.id");
      }
      Drain warm = drain(service);
      warm.print(String.format("drain again, warm: %d rows (the same backlog once more)", warm.rows));
      double drainRate = cold.rate();

      // 3. Create-to-stream latency with the drainer running.
      Map<String, Long> sent = new ConcurrentHashMap<>();
      List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
      List<Double> createMs = new ArrayList<>();
      CountDownLatch arrived = new CountDownLatch(samples);
      try (Environment env = StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(service.config()))) {
        Consumer consumer = env.consumerBuilder().stream(service.config().string("stream.name"))
            .offset(OffsetSpecification.next()).messageHandler((ctx, m) -> {
              long now = System.nanoTime();
              Object id = m.getApplicationProperties().get("annotation-id");
              Long start = id == null ? null : sent.remove(String.valueOf(id));
              if (start != null) {
                latencies.add((now - start) / 1e6);
                arrived.countDown();
              }
            }).build();
        Thread.sleep(500);
        for (int i = 0; i < samples; i++) {
          byte[] img = images[created + i];
          String id = io.osprey.annotations.ContentId.of(img);
          long start = System.nanoTime();
          sent.put(id, start);
          create(client, url, token, img, detections);
          createMs.add((System.nanoTime() - start) / 1e6);
          Thread.sleep(20);
        }
        arrived.await(60, TimeUnit.SECONDS);
        consumer.close();
      }
      double p99 = pct(latencies, 99);
      System.out.printf("create (HTTP 201): p50 %.1f ms, p99 %.1f ms; create-to-stream: p50 %.1f ms, p99 %.1f ms,"
          + " max %.1f ms (%d samples)%n", pct(createMs, 50), pct(createMs, 99), pct(latencies, 50),
          pct(latencies, 99), pct(latencies, 100), latencies.size());
      TestService.stop(drainer);

      // 1. Raw floor: the client's producer alone, same body size, confirms awaited.
      double rawRate = raw(service, size, rows);
      System.out.printf("RESULT drain %.0f msg/s (warm %.0f), raw %.0f msg/s, ratio drain/raw %.3f (warm %.3f),"
          + " create-to-stream p99 %.1f ms%n", drainRate, warm.rate(), rawRate, drainRate / rawRate,
          warm.rate() / rawRate, p99);
      System.out.printf("DRAIN rate=%.0f raw=%.0f create_p50=%.1f create_p99=%.1f p50=%.1f p99=%.1f jvm_us=%.0f jit_us=%.0f pg_us=%.0f rabbit_us=%.0f"
              + " busy=%.0f warm=%.0f warm_jvm_us=%.0f warm_jit_us=%.0f warm_pg_us=%.0f warm_rabbit_us=%.0f"
              + " warm_busy=%.0f%n", drainRate, rawRate, pct(createMs, 50), pct(createMs, 99), pct(latencies, 50), p99, cold.cpu[0], cold.cpu[1],
          cold.cpu[2], cold.cpu[3], cold.busy, warm.rate(), warm.cpu[0], warm.cpu[1], warm.cpu[2], warm.cpu[3],
          warm.busy);
      System.out.printf("goals: drain >= 20000 msg/s %s (cold), %s (warm); ratio >= 0.2 %s (cold), %s (warm);"
          + " p99 < 50 ms %s%n", met(drainRate >= 20_000), met(warm.rate() >= 20_000), met(drainRate / rawRate >= 0.2),
          met(warm.rate() / rawRate >= 0.2), met(p99 < 50));
    }
    System.exit(0);
  }

  private static String met(boolean met) {
    return met ? "MET" : "NOT MET";
  }

  /** One drain timed: rows, seconds, and per message the CPU of this JVM, its JIT, PostgreSQL and RabbitMQ. */
  private record Drain(int rows, double seconds, double[] cpu, double busy) {
    double rate() {
      return rows / seconds;
    }

    void print(String what) {
      int cores = Runtime.getRuntime().availableProcessors();
      double withoutJit = cpu[0] - cpu[1] + cpu[2] + cpu[3];
      System.out.printf("%s in %.2f s = %.0f messages/s%n", what, seconds, rate());
      System.out.printf("  CPU per message (Linux /proc, during the drain): this JVM %.0f us (its JIT compiler threads"
              + " %.0f us of it), PostgreSQL backends of the benchmark's database %.0f us, RabbitMQ %.0f us (the"
              + " whole broker: shared with anything else using it); without the JIT, %.0f us per message = at most"
              + " %.0f messages/s on %d cores; the machine was %.0f%% busy%n", cpu[0], cpu[1], cpu[2], cpu[3],
          withoutJit, cores * 1e6 / withoutJit, cores, busy);
    }
  }

  /**
   * Waits until the outbox is empty, timed from the first row leaving it (the drainer's start, its stream
   * connection and its wake-up excluded).
   */
  private static Drain drain(TestService service) throws Exception {
    long t0 = 0;
    int measured = 0;
    Cpu cpu0 = null;
    Cpu cpu1;
    // Polled off the primary key's two ends, which costs nothing: a count(*) every 10 ms scanned the whole backlog
    // (10 ms at 30,000 rows) and so kept half a core of this 2-core machine busy during the drain.
    try (var c = service.jdbc(); var q = c.prepareStatement("SELECT min(id), max(id) FROM annotation_outbox");
         var all = c.prepareStatement("SELECT count(*) FROM annotation_outbox")) {
      long first = ends(q)[0];
      long[] now;
      while ((now = ends(q))[1] != 0 || t0 == 0) {
        if (t0 == 0 && now[0] != first) {
          // The drainer deletes in id order: the first batch has left.
          t0 = System.nanoTime();
          cpu0 = Cpu.now(c);
          measured = (int) count(all);
        }
        Thread.sleep(10);
      }
      cpu1 = Cpu.now(c);
    }
    return new Drain(measured, (System.nanoTime() - t0) / 1e9, cpu1.minus(cpu0, measured),
        100 * cpu1.busyShare(cpu0));
  }

  /**
   * CPU time used so far (clock ticks of /proc, 1/100 s) by this JVM, by its JIT compiler threads, by each
   * PostgreSQL backend of the benchmark's database and by RabbitMQ's VM (beam.smp), and the machine's busy and total
   * ticks; zeros where /proc cannot be read (not Linux).
   */
  private record Cpu(long jvm, long jit, Map<Integer, Long> pg, long rabbit, long busy, long total) {
    private static final double TICK_US = 10_000;

    static Cpu now(java.sql.Connection c) throws java.sql.SQLException {
      Map<Integer, Long> pg = new java.util.HashMap<>();
      try (var s = c.createStatement(); var rs = s.executeQuery("SELECT pid FROM pg_stat_activity"
          + " WHERE datname = current_database() AND pid <> pg_backend_pid()")) {
        while (rs.next()) {
          pg.put(rs.getInt(1), ticks(java.nio.file.Path.of("/proc", rs.getString(1), "stat")));
        }
      }
      long jit = 0;
      java.nio.file.Path tasks = java.nio.file.Path.of("/proc/self/task");
      if (java.nio.file.Files.isDirectory(tasks)) {
        try (var list = java.nio.file.Files.list(tasks)) {
          for (java.nio.file.Path t : list.toList()) {
            String comm = read(t.resolve("comm")).trim();
            if (comm.contains("CompilerThre")) {
              jit += ticks(t.resolve("stat"));
            }
          }
        } catch (java.io.IOException e) {
          jit = 0;
        }
      }
      long busy = 0;
      long total = 0;
      String[] machine = read(java.nio.file.Path.of("/proc/stat")).split("\n")[0].trim().split("\\s+");
      for (int i = 1; i < machine.length; i++) {
        long v = Long.parseLong(machine[i]);
        total += v;
        busy += i == 4 || i == 5 ? 0 : v; // idle, iowait
      }
      return new Cpu(ticks(java.nio.file.Path.of("/proc/self/stat")), jit, pg, ticks(rabbitStatFile()), busy, total);
    }

    /** Per message, in microseconds: JVM, JIT, PostgreSQL, RabbitMQ. */
    double[] minus(Cpu before, int messages) {
      long pgTicks = 0;
      for (Map.Entry<Integer, Long> e : pg.entrySet()) {
        pgTicks += e.getValue() - before.pg.getOrDefault(e.getKey(), 0L);
      }
      return new double[] {(jvm - before.jvm) * TICK_US / messages, (jit - before.jit) * TICK_US / messages,
          pgTicks * TICK_US / messages, (rabbit - before.rabbit) * TICK_US / messages};
    }

    double busyShare(Cpu before) {
      return total == before.total ? 0 : (double) (busy - before.busy) / (total - before.total);
    }

    private static java.nio.file.Path rabbitStat;

    private static java.nio.file.Path rabbitStatFile() {
      if (rabbitStat == null) {
        rabbitStat = java.nio.file.Path.of("/nonexistent");
        try (var list = java.nio.file.Files.list(java.nio.file.Path.of("/proc"))) {
          for (java.nio.file.Path p : list.toList()) {
            if (p.getFileName().toString().chars().allMatch(Character::isDigit)
                && read(p.resolve("comm")).trim().equals("beam.smp")) {
              rabbitStat = p.resolve("stat");
              break;
            }
          }
        } catch (java.io.IOException e) {
          // not Linux: no figure
        }
      }
      return rabbitStat;
    }

    private static String read(java.nio.file.Path p) {
      try {
        return java.nio.file.Files.readString(p);
      } catch (java.io.IOException | RuntimeException e) {
        return "";
      }
    }

    /** utime + stime of a /proc stat file (fields 14 and 15, counted after the command name in parentheses). */
    private static long ticks(java.nio.file.Path stat) {
      String s = read(stat);
      int close = s.lastIndexOf(')');
      if (close < 0) {
        return 0;
      }
      String[] f = s.substring(close + 2).split(" ");
      return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
  }

  /** The smallest and largest id in the outbox (0, 0 when it is empty). */
  private static long[] ends(java.sql.PreparedStatement q) throws java.sql.SQLException {
    try (var rs = q.executeQuery()) {
      rs.next();
      return new long[] {rs.getLong(1), rs.getLong(2)};
    }
  }

  private static long count(java.sql.PreparedStatement q) throws java.sql.SQLException {
    try (var rs = q.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static int messageSize(TestService service) throws Exception {
    try (Environment env = StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(service.config()))) {
      CountDownLatch one = new CountDownLatch(1);
      int[] size = new int[1];
      Consumer c = env.consumerBuilder().stream(service.config().string("stream.name"))
          .offset(OffsetSpecification.first()).messageHandler((ctx, m) -> {
            if (one.getCount() > 0) {
              size[0] = m.getBodyAsBinary().length;
              one.countDown();
            }
          }).build();
      one.await(10, TimeUnit.SECONDS);
      c.close();
      return size[0];
    }
  }

  private static double raw(TestService service, int size, int count) throws Exception {
    String stream = service.config().string("stream.name") + "-raw";
    try (Environment env = StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(service.config()))) {
      env.streamCreator().stream(stream).create();
      Producer producer = env.producerBuilder().stream(stream).build();
      byte[] body = new byte[size];
      new java.util.Random(1).nextBytes(body);
      CountDownLatch confirmed = new CountDownLatch(count);
      long t0 = System.nanoTime();
      for (int i = 0; i < count; i++) {
        Message m = producer.messageBuilder().addData(body).build();
        producer.send(m, s -> confirmed.countDown());
      }
      confirmed.await(120, TimeUnit.SECONDS);
      double s = (System.nanoTime() - t0) / 1e9;
      System.out.printf("raw stream client producer, %d-byte bodies: %d messages in %.2f s = %.0f messages/s%n",
          size, count, s, count / s);
      producer.close();
      env.deleteStream(stream);
      return count / s;
    }
  }

  private static void create(HttpClient client, String url, String token, byte[] image, JsonArray detections)
      throws Exception {
    String body = new JsonObject().put("image", Base64.getEncoder().encodeToString(image)).put("flightId", "bench")
        .put("source", "AI").put("detections", detections).encode();
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(url))
        .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 201) {
      throw new IllegalStateException("create answered " + r.statusCode() + ": " + r.body());
    }
  }

  private static double pct(List<Double> values, int p) {
    List<Double> s = new ArrayList<>(values);
    if (s.isEmpty()) {
      return Double.NaN;
    }
    Collections.sort(s);
    int index = (int) Math.ceil(p / 100.0 * s.size()) - 1;
    return s.get(Math.max(0, Math.min(s.size() - 1, index)));
  }

}
