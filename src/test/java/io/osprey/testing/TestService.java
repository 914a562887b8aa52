package io.osprey.testing;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.config.Config;
import io.osprey.config.ConfigLoader;
import io.osprey.storage.Database;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Osprey started in-process against the real PostgreSQL, Redis and RabbitMQ, with its own database
 * (created here, dropped on close), its own storage root and a free port, so test classes never see each other's
 * leftovers.
 */
public final class TestService implements AutoCloseable {
  private final OspreyApp app;
  private final Config config;
  private final Path storage;
  private final String database;
  private final java.util.Set<String> queues = new java.util.LinkedHashSet<>();

  private TestService(OspreyApp app, Config config, Path storage, String database) {
    this.app = app;
    this.config = config;
    this.storage = storage;
    this.database = database;
    queues.add(config.string("jobs.queue"));
  }

  public static TestService start(Class<?> owner) throws Exception {
    return start(owner, Role.ALL, new JsonObject());
  }

  public static TestService start(Class<?> owner, Role role, JsonObject overrides) throws Exception {
    return start(owner, role, overrides, io.osprey.inference.SessionBackend.onnxRuntime());
  }

  /** A service whose model sessions are opened and run through {@code sessions} (a {@link FailingGpu}, say). */
  public static TestService start(Class<?> owner, Role role, JsonObject overrides,
                                  io.osprey.inference.SessionBackend sessions) throws Exception {
    String database = "osprey_t_" + owner.getSimpleName().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "")
        + "_" + UUID.randomUUID().toString().substring(0, 8);
    if (database.length() > 60) {
      database = database.substring(0, 51) + database.substring(database.length() - 9);
    }
    Path storage = Files.createTempDirectory("osprey-test-storage-");
    JsonObject base = baseConfig(database, storage);
    Config config = ConfigLoader.load(System.getenv()).with(base.mergeIn(overrides, true));
    OspreyApp app = OspreyApp.start(config, role, sessions).toCompletionStage().toCompletableFuture()
        .get(60, TimeUnit.SECONDS);
    return new TestService(app, config, storage, database);
  }

  /**
   * What every test service shares: loopback on a free port, its own storage, database, queue and Redis keys,
   * the shared models, short retry delays.
   */
  public static JsonObject baseConfig(String database, Path storage) {
    return new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        // The disk guard is off: a test's outcome must not depend on how full this machine's disk is (the guard's
        // own test turns it on with an impossible minimum).
        .put("storage", new JsonObject().put("root", storage.toString()).put("min_free_bytes", 0))
        .put("native", new JsonObject().put("cache_dir", Path.of("target", "native-cache").toAbsolutePath().toString()))
        .put("postgres", new JsonObject().put("database", database).put("connect_timeout_seconds", 5))
        .put("redis", new JsonObject().put("key_prefix", database + ":"))
        .put("models", new JsonObject().put("dir", Models.dir().toAbsolutePath().normalize().toString()))
        .put("inference", new JsonObject().put("intra_op_threads", 2))
        // The drainer deletes outbox rows; tests of what is written to the outbox read them, so it runs only in the
        // tests that turn it on (the outbox tests).
        .put("outbox", new JsonObject().put("enabled", false))
        .put("stream", new JsonObject().put("name", "osprey-test-" + database)
            .put("producer_name", "osprey-test-" + database))
        .put("auth", new JsonObject().put("jwks_url", TestAuth.jwksUrl()).put("jwks_file", ""))
        .put("jobs", new JsonObject().put("queue", "osprey.test." + database).put("retry_backoff_ms", 50))
        // A close while a job runs waits for the image in flight; short, so it fits the 30 s that close() allows.
        .put("shutdown", new JsonObject().put("grace_seconds", 5));
  }

  /** Another process role on the same database, storage, queue and Redis keys (several instances of one service). */
  public OspreyApp startPeer(Role role, JsonObject overrides) throws Exception {
    Config peer = config.with(new JsonObject().put("http", new JsonObject().put("port", 0)).mergeIn(overrides, true));
    queues.add(peer.string("jobs.queue"));
    return OspreyApp.start(peer, role).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  /**
   * A separate JVM running this service's configuration in {@code role} (same database, storage, queue, Redis keys
   * and key set), with extra environment variables on top; its output goes to {@code log}.
   */
  public Process spawn(Role role, java.util.Map<String, String> extraEnv, Path log) throws IOException {
    return spawnMain(io.osprey.Launcher.class, java.util.List.of("--role", role.name().toLowerCase(Locale.ROOT)),
        extraEnv, log);
  }

  /** Any main class of the project in a separate JVM with this service's configuration in its environment. */
  public Process spawnMain(Class<?> main, java.util.List<String> args, java.util.Map<String, String> extraEnv,
                           Path log) throws IOException {
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(javaBin, "-Xmx1g", "-cp",
        System.getProperty("java.class.path"), main.getName()));
    command.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(command);
    for (io.osprey.config.ConfigKeys.Key key : io.osprey.config.ConfigKeys.all()) {
      pb.environment().put(key.envVar(), switch (key.type()) {
        case STRING -> config.string(key.name());
        case INT -> Integer.toString(config.integer(key.name()));
        case LONG -> Long.toString(config.longValue(key.name()));
        case BOOL -> Boolean.toString(config.bool(key.name()));
      });
    }
    pb.environment().putAll(extraEnv);
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return pb.start();
  }

  /** Waits until a spawned service answers {@code /health/live}; fails with its log when it dies or never does. */
  public static void awaitLive(String base, Process process, Path log, long timeoutMillis) throws Exception {
    long end = System.currentTimeMillis() + timeoutMillis;
    while (true) {
      try {
        if (Http.get(base + "/health/live").status() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // starting
      }
      if (!process.isAlive() || System.currentTimeMillis() > end) {
        throw new IllegalStateException("service did not start: " + Files.readString(log));
      }
      Thread.sleep(100);
    }
  }

  public static void stop(OspreyApp app) throws Exception {
    app.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  public OspreyApp app() {
    return app;
  }

  public Config config() {
    return config;
  }

  public String baseUrl() {
    return "http://127.0.0.1:" + app.port();
  }

  public Path storage() {
    return storage;
  }

  public String database() {
    return database;
  }

  /** Plain JDBC to this test's database, for assertions on what was (not) stored. */
  public java.sql.Connection jdbc() throws java.sql.SQLException {
    return java.sql.DriverManager.getConnection(Database.jdbcUrl(config, database), config.string("postgres.user"),
        config.string("postgres.password"));
  }

  public long count(String sql) throws java.sql.SQLException {
    try (var c = jdbc(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** Regular files anywhere under the storage root, relative to it. */
  public java.util.List<String> storedFiles() throws IOException {
    try (Stream<Path> walk = Files.walk(storage)) {
      return walk.filter(Files::isRegularFile).map(p -> storage.relativize(p).toString()).sorted().toList();
    }
  }

  /** Quorum queues outlive their users; a test's own are removed so runs do not pile them up on the broker. */
  private void deleteQueues() {
    com.rabbitmq.client.ConnectionFactory factory = new com.rabbitmq.client.ConnectionFactory();
    factory.setHost(config.string("rabbitmq.host"));
    factory.setPort(config.integer("rabbitmq.port"));
    factory.setUsername(config.string("rabbitmq.user"));
    factory.setPassword(config.string("rabbitmq.password"));
    factory.setVirtualHost(config.string("rabbitmq.vhost"));
    try (com.rabbitmq.client.Connection c = factory.newConnection("osprey-test-cleanup");
         com.rabbitmq.client.Channel channel = c.createChannel()) {
      for (String queue : queues) {
        channel.queueDelete(queue);
      }
    } catch (Exception e) {
      System.err.println("could not delete test queues " + queues + ": " + e);
    }
  }

  /** Streams outlive their tests too; a test's own is removed (absent when nothing was ever published). */
  private void deleteStream() {
    try (com.rabbitmq.stream.Environment env = io.osprey.outbox.StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(config))) {
      env.deleteStream(config.string("stream.name"));
    } catch (Exception e) {
      // never created, or the broker is away: nothing to clean
    }
  }

  /**
   * Redis keys outlive their tests too (the live event log {@code <db>:annotation-events}, status caches,
   * heartbeats, rate windows): every key under this test's prefix is removed, found with SCAN (never KEYS, which
   * would stall a Redis that other helpers share).
   */
  private void deleteRedisKeys() {
    String prefix = config.string("redis.key_prefix");
    if (prefix == null || prefix.isEmpty()) {
      return; // never the whole keyspace
    }
    String pattern = prefix.replaceAll("([*?\\[\\]\\\\])", "\\\\$1") + "*";
    io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
    try {
      io.vertx.redis.client.RedisAPI redis = io.vertx.redis.client.RedisAPI.api(
          io.osprey.storage.RedisClients.create(vertx, config));
      String cursor = "0";
      do {
        io.vertx.redis.client.Response page = redis.scan(java.util.List.of(cursor, "MATCH", pattern, "COUNT", "1000"))
            .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        cursor = page.get(0).toString();
        java.util.List<String> keys = new java.util.ArrayList<>();
        page.get(1).forEach(k -> keys.add(k.toString()));
        if (!keys.isEmpty()) {
          redis.unlink(keys).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
      } while (!"0".equals(cursor));
      redis.close();
    } catch (Exception e) {
      System.err.println("could not delete the test's Redis keys " + pattern + ": " + e);
    } finally {
      vertx.close();
    }
  }

  @Override
  public void close() throws Exception {
    try {
      app.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      deleteQueues();
      deleteStream();
      deleteRedisKeys();
      Database.drop(config, database);
      try (Stream<Path> walk = Files.walk(storage)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
