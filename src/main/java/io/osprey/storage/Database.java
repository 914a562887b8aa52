package io.osprey.storage;

import io.osprey.config.Config;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PostgreSQL access. {@link #prepare} runs once at start, on the starting thread, before any verticle: it waits for
 * the server, creates the database when allowed, and applies the versioned migrations in {@code db/migration}.
 * Everything after start goes through the reactive pool.
 */
public final class Database {
  private static final Logger LOG = LoggerFactory.getLogger(Database.class);

  private Database() {
  }

  public static void prepare(Config config) {
    String database = config.string("postgres.database");
    long deadline = System.nanoTime() + config.integer("postgres.connect_timeout_seconds") * 1_000_000_000L;
    SQLException last;
    while (true) {
      try {
        if (config.bool("postgres.create_database")) {
          createIfMissing(config, database);
        }
        migrate(config);
        return;
      } catch (SQLException e) {
        last = e;
      } catch (org.flywaydb.core.api.FlywayException e) {
        if (!(e.getCause() instanceof SQLException sql) || !isConnectionProblem(sql)) {
          throw new IllegalStateException("database migration failed: " + e.getMessage(), e);
        }
        last = sql;
      }
      if (!isConnectionProblem(last) || System.nanoTime() > deadline) {
        throw new IllegalStateException("PostgreSQL at " + config.string("postgres.host") + ":"
            + config.integer("postgres.port") + " database '" + database + "' is not usable: " + last.getMessage(),
            last);
      }
      LOG.warn("PostgreSQL not reachable yet ({}); retrying", last.getMessage());
      sleep(1000);
    }
  }

  private static boolean isConnectionProblem(SQLException e) {
    String state = e.getSQLState();
    return state != null && state.startsWith("08");
  }

  private static void createIfMissing(Config config, String database) throws SQLException {
    try (Connection c = DriverManager.getConnection(jdbcUrl(config, "postgres"), credentials(config));
         PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
      exists.setString(1, database);
      try (ResultSet rs = exists.executeQuery()) {
        if (rs.next()) {
          return;
        }
      }
      try (Statement create = c.createStatement()) {
        create.execute("CREATE DATABASE " + quoteIdentifier(database));
        LOG.info("created database {}", database);
      } catch (SQLException e) {
        // Two processes starting together may race to create it; losing that race is fine.
        if (!"42P04".equals(e.getSQLState())) {
          throw e;
        }
      }
    }
  }

  private static void migrate(Config config) {
    Flyway flyway = Flyway.configure()
        .dataSource(jdbcUrl(config, config.string("postgres.database")), config.string("postgres.user"),
            config.string("postgres.password"))
        .locations("classpath:db/migration")
        .connectRetries(0)
        .load();
    int applied = flyway.migrate().migrationsExecuted;
    LOG.info("database schema up to date ({} migration(s) applied now)", applied);
  }

  /** Drops a database; used by the test harness, refused for the configured default database name. */
  public static void drop(Config config, String database) throws SQLException {
    try (Connection c = DriverManager.getConnection(jdbcUrl(config, "postgres"), credentials(config));
         Statement s = c.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS " + quoteIdentifier(database) + " WITH (FORCE)");
    }
  }

  public static PgConnectOptions connectOptions(Config config) {
    return new PgConnectOptions()
        .setHost(config.string("postgres.host"))
        .setPort(config.integer("postgres.port"))
        .setDatabase(config.string("postgres.database"))
        .setUser(config.string("postgres.user"))
        .setPassword(config.string("postgres.password"))
        .setReconnectAttempts(3)
        .setReconnectInterval(500);
  }

  public static Pool pool(Vertx vertx, Config config) {
    PgConnectOptions connect = connectOptions(config);
    return PgBuilder.pool()
        // A server that drops packets (rather than refusing) must not hold a request for Netty's default 60 s per
        // attempt: a request during an outage answers 503 DATABASE_UNAVAILABLE within a few seconds.
        .with(new NetClientOptions().setConnectTimeout(3000))
        // waiting for a free connection is bounded too (default 30 s), for the same reason
        .with(new PoolOptions().setMaxSize(config.integer("postgres.pool_size")).setShared(false)
            .setConnectionTimeout(10).setConnectionTimeoutUnit(TimeUnit.SECONDS))
        .connectingTo(connect)
        .using(vertx)
        .build();
  }

  public static String jdbcUrl(Config config, String database) {
    return "jdbc:postgresql://" + config.string("postgres.host") + ":" + config.integer("postgres.port") + "/"
        + database + "?connectTimeout=5&ApplicationName=osprey";
  }

  private static Properties credentials(Config config) {
    Properties p = new Properties();
    p.setProperty("user", config.string("postgres.user"));
    p.setProperty("password", config.string("postgres.password"));
    return p;
  }

  private static String quoteIdentifier(String name) {
    return "\"" + name.replace("\"", "\"\"") + "\"";
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for PostgreSQL", e);
    }
  }
}
