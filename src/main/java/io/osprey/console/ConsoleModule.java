package io.osprey.console;

import io.osprey.module.OspreyModule;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.osprey.http.Responses;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import io.vertx.ext.web.handler.StaticHandler;

/**
 * The web console for operators and annotators: static ES modules under {@code webroot/console} (no build step, no
 * CDN), served by the API role at {@code /console/}, with {@code /} redirecting there. The console is a client of
 * the public API like any other: it holds no server-side session and calls the same routes with the user's token.
 */
public final class ConsoleModule implements OspreyModule {
  static final String ROOT = "/console/";
  private final ConsoleSettings settings;
  private final Vertx vertx;

  public ConsoleModule(Vertx vertx, ConsoleSettings settings) {
    this.vertx = vertx;
    this.settings = settings;
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    return Future.succeededFuture();
  }

  @Override
  public void mount(Router router) {
    if (!settings.enabled()) {
      return;
    }
    router.get("/").handler(ctx -> ctx.redirect(ROOT));
    // Files are not fingerprinted, so they are revalidated (Last-Modified) after a short max-age rather than
    // cached for good; compression is the server's (HttpServerOptions.setCompressionSupported).
    StaticHandler files = StaticHandler.create("webroot/console")
        .setCachingEnabled(true)
        .setMaxAgeSeconds(settings.cacheSeconds())
        .setDirectoryListing(false)
        .setIndexPage("index.html");
    router.get("/console/dev-token").handler(this::devToken);
    // One prefix route, for GET and HEAD alike (StaticHandler answers only those and passes other methods on).
    router.route("/console/*").handler(ctx -> {
      if (ctx.request().path().equals("/console")) {
        ctx.redirect(ROOT); // relative files (app.css, js/app.js) resolve against the folder, not its parent
        return;
      }
      ctx.response().putHeader("X-Content-Type-Options", "nosniff");
      ctx.response().putHeader("Referrer-Policy", "no-referrer");
      ctx.next();
    }).handler(files);
  }

  /**
   * The developer token, for the console's "Use the developer token" button: only in developer mode (a local key
   * set and a token file, both set by scripts/run.sh), only to a caller on this machine, and only to a same-origin
   * page (a page of another origin that http.cors_origins lets in must not read it through the user's browser).
   * Every other caller learns only that none is offered, so the console asks without producing an error.
   */
  private void devToken(RoutingContext ctx) {
    ctx.response().putHeader("Cache-Control", "no-store");
    String refusal = devTokenRefusal(ctx);
    if (refusal != null) {
      Responses.json(ctx, 200, new JsonObject().put("available", false).put("reason", refusal));
      return;
    }
    vertx.fileSystem().readFile(settings.devTokenFile()).onComplete(read -> {
      if (read.failed()) {
        Responses.json(ctx, 200, new JsonObject().put("available", false)
            .put("reason", "the developer token file cannot be read"));
      } else {
        Responses.json(ctx, 200, new JsonObject().put("available", true)
            .put("token", read.result().toString(StandardCharsets.UTF_8).trim()));
      }
    });
  }

  private String devTokenRefusal(RoutingContext ctx) {
    if (!settings.developerKeys() || settings.devTokenFile().isBlank()) {
      return "not in developer mode";
    }
    SocketAddress remote = ctx.request().remoteAddress();
    if (remote == null || !loopback(remote.hostAddress())) {
      return "offered to this machine only";
    }
    String origin = ctx.request().getHeader("Origin");
    String host = ctx.request().getHeader("Host");
    if (origin != null && (host == null || !origin.equalsIgnoreCase("http://" + host)
        && !origin.equalsIgnoreCase("https://" + host))) {
      return "offered to the console's own origin only";
    }
    return null;
  }

  static boolean loopback(String address) {
    if (address == null) {
      return false;
    }
    try {
      return InetAddress.getByName(address).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }
}
