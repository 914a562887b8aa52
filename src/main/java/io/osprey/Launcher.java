package io.osprey;

import io.osprey.config.Config;
import io.osprey.config.ConfigException;
import io.osprey.config.ConfigLoader;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar osprey.jar [--role api|worker|all]}: loads and checks the configuration, then starts the app. */
public final class Launcher {
  private Launcher() {
  }

  public static void main(String[] args) {
    Role role;
    try {
      role = parseRole(args);
    } catch (IllegalArgumentException e) {
      System.err.println("osprey: " + e.getMessage());
      System.err.println("usage: java -jar osprey.jar [--role api|worker|all]");
      System.exit(64);
      return;
    }
    if (role == null) {
      System.out.println("usage: java -jar osprey.jar [--role api|worker|all]   (configuration: docs/configuration.md)");
      return;
    }
    Config config;
    try {
      config = ConfigLoader.load(System.getenv());
    } catch (ConfigException e) {
      System.err.println("osprey: configuration error: " + e.getMessage());
      System.exit(78);
      return;
    }
    Logger log = LoggerFactory.getLogger(Launcher.class);
    OspreyApp app;
    try {
      app = OspreyApp.start(config, role).toCompletionStage().toCompletableFuture().get(10, TimeUnit.MINUTES);
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      log.error("osprey failed to start: {}", cause.getMessage(), cause);
      System.err.println("osprey: failed to start: " + cause.getMessage());
      System.exit(1);
      return;
    }
    // The close waits for the image in progress (shutdown.grace_seconds), then for the job's hand-back and the
    // other bounded steps; the hook's own bound covers them all.
    long closeBoundSeconds = config.integer("shutdown.grace_seconds") + 60L;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("shutting down");
      try {
        app.close().toCompletionStage().toCompletableFuture().get(closeBoundSeconds, TimeUnit.SECONDS);
      } catch (Exception e) {
        log.warn("shutdown did not finish cleanly: {}", e.toString());
      }
    }, "osprey-shutdown"));
    exitZeroOnSigterm(log);
  }

  /**
   * SIGTERM is how orchestrators stop a service (rolling restarts, scale-down), not a failure: it runs the same
   * shutdown hook but ends with exit status 0 instead of the JVM's default 143, once the hook has finished.
   */
  private static void exitZeroOnSigterm(Logger log) {
    try {
      sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> {
        log.info("SIGTERM received: stopping gracefully");
        System.exit(0);
      });
    } catch (RuntimeException | LinkageError e) {
      log.warn("SIGTERM handler not installed ({}); SIGTERM still shuts down cleanly, with exit status 143",
          e.toString());
    }
  }

  /** Returns null for --help. */
  static Role parseRole(String[] args) {
    Role role = Role.ALL;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        return null;
      } else if (arg.equals("--role") && i + 1 < args.length) {
        role = Role.parse(args[++i]);
      } else if (arg.startsWith("--role=")) {
        role = Role.parse(arg.substring("--role=".length()));
      } else {
        throw new IllegalArgumentException("unknown argument '" + arg + "'");
      }
    }
    return role;
  }
}
