package io.osprey.auth;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.file.Path;

/** Where the JSON Web Key Set comes from: the identity service's URL, or a local file in developer mode. */
public interface JwksSource {
  Future<JsonObject> fetch();

  String describe();

  static JwksSource url(Vertx vertx, String url) {
    WebClient client = WebClient.create(vertx, new WebClientOptions().setConnectTimeout(3000).setIdleTimeout(10));
    return new JwksSource() {
      @Override
      public Future<JsonObject> fetch() {
        return client.getAbs(url).timeout(5000).send().compose(r -> r.statusCode() == 200
            ? Future.succeededFuture(r.bodyAsJsonObject())
            : Future.failedFuture("JWKS " + url + " answered HTTP " + r.statusCode()));
      }

      @Override
      public String describe() {
        return url;
      }
    };
  }

  /** No key source configured: every token is refused, with a message that says what to set. */
  static JwksSource none() {
    return new JwksSource() {
      @Override
      public Future<JsonObject> fetch() {
        return Future.failedFuture("no JWKS configured (set JWT_JWKS_URL, or auth.jwks_file in developer mode)");
      }

      @Override
      public String describe() {
        return "nowhere (auth.jwks_url and auth.jwks_file are empty)";
      }
    };
  }

  static JwksSource file(Vertx vertx, Path file) {
    return new JwksSource() {
      @Override
      public Future<JsonObject> fetch() {
        return vertx.fileSystem().readFile(file.toString()).map(b -> b.toJsonObject());
      }

      @Override
      public String describe() {
        return file.toString() + " (developer mode)";
      }
    };
  }
}
