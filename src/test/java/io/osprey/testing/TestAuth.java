package io.osprey.testing;

import com.sun.net.httpserver.HttpServer;
import io.osprey.auth.DevKeys;
import io.osprey.auth.Permission;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The identity service as the tests see it: a real HTTP server (JDK) serving a JWKS, and tokens signed with its
 * key. One per test JVM; every TestService verifies against it.
 */
public final class TestAuth {
  private static DevKeys keys;
  private static HttpServer server;
  private static final AtomicInteger FETCHES = new AtomicInteger();
  private static volatile String extraKeys = "";

  private TestAuth() {
  }

  public static synchronized DevKeys keys() {
    if (keys == null) {
      keys = DevKeys.generate();
    }
    return keys;
  }

  /** The JWKS URL, starting the server on first use. */
  public static synchronized String jwksUrl() {
    if (server == null) {
      try {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      server.createContext("/.well-known/jwks.json", exchange -> {
        FETCHES.incrementAndGet();
        String jwk = keys().jwk().encode();
        byte[] body = ("{\"keys\":[" + jwk + extraKeys + "]}").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(200, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(body);
        }
      });
      server.setExecutor(null);
      server.start();
    }
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/.well-known/jwks.json";
  }

  /** Adds a key to the served set (key rotation), as a JSON object text. */
  public static void rotateIn(String jwkJson) {
    extraKeys = extraKeys + "," + jwkJson;
  }

  public static int fetches() {
    return FETCHES.get();
  }

  public static String token(String subject, Permission... permissions) {
    return keys().token(subject, List.of(permissions), 600);
  }

  /** ANN + DATASET + ADM. */
  public static String admin() {
    return token("admin", Permission.ANN, Permission.DATASET, Permission.ADM);
  }

  public static String annotator() {
    return token("annotator", Permission.ANN);
  }
}
