package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.osprey.config.Config;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the HTTP layer enforces before (and beside) the router, from the {@code http.*} keys: request line, header and
 * multipart decoder sizes; the idle timeout; a header read deadline (Vert.x has none: a client sending its headers a
 * byte at a time would hold a connection forever); and the answers to requests the HTTP layer cannot take (414 and
 * 431, 400 for a request line, an HTTP version, a Host header or a chunked body it cannot decode), which get the one
 * error shape and an {@code X-Request-Id} like every other answer.
 */
public record HttpEdge(int headerTimeoutSeconds, int idleTimeoutSeconds, int maxInitialLineBytes, int maxHeaderBytes,
                       int maxFormAttributeBytes, int maxFormParts, int maxPartHeaderBytes) {
  private static final Logger ACCESS = LoggerFactory.getLogger("osprey.access");
  private static final Logger LOG = LoggerFactory.getLogger(HttpEdge.class);

  /** The Vert.x system property that takes its WebSocket handling out of the HTTP/1.x request path. */
  static final String NO_WEBSOCKETS = "vertx.disableWebsockets";

  /**
   * Turns Vert.x's WebSocket support off; call it before the first Vert.x HTTP server of the process is created.
   * With it on, Vert.x answers a request whose HTTP version is neither 1.0 nor 1.1 itself, 501 with an empty body,
   * before any handler of ours sees it (Http1xServerRequestHandler): a 5xx for bad input, outside the error shape.
   * With it off, the request reaches {@link #unacceptable}, which answers 400 in the error shape. Vert.x reads the
   * switch once, when its HTTP server class loads, from this system property (an internal one, "for benchmarking",
   * in Vert.x's words: no public option does this). The service serves no WebSocket, so nothing else changes; a
   * WebSocket upgrade request is routed like any other request. A value set by the operator is left alone.
   */
  public static void disableVertxWebSockets() {
    if (System.getProperty(NO_WEBSOCKETS) == null) {
      System.setProperty(NO_WEBSOCKETS, "true");
    }
  }

  public static HttpEdge from(Config config) {
    return new HttpEdge(config.integer("http.header_timeout_seconds"), config.integer("http.idle_timeout_seconds"),
        config.integer("http.max_initial_line_bytes"), config.integer("http.max_header_bytes"),
        config.integer("http.max_form_attribute_bytes"), config.integer("http.max_form_parts"),
        config.integer("http.max_part_header_bytes"));
  }

  /** Defaults for callers without a configuration (the conf/osprey.json values). */
  public static HttpEdge defaults() {
    return new HttpEdge(10, 60, 8192, 16384, 8 << 20, 1000, 16384);
  }

  public HttpServerOptions apply(HttpServerOptions options) {
    return options
        // With clear-text HTTP/2 on, Vert.x creates the connection (and calls the connection handler) only once the
        // first request's headers are in, to look for an h2c upgrade: a client that never finishes them would be
        // out of reach of the header deadline. The service speaks plain HTTP/1.1.
        .setHttp2ClearTextEnabled(false)
        .setIdleTimeout(idleTimeoutSeconds)
        .setMaxInitialLineLength(maxInitialLineBytes)
        .setMaxHeaderSize(maxHeaderBytes)
        .setMaxFormAttributeSize(maxFormAttributeBytes)
        .setMaxFormFields(maxFormParts)
        .setMaxFormBufferedBytes(maxPartHeaderBytes);
  }

  /**
   * Installs the invalid-request answer and the header deadline on {@code server}; {@code requests} is the router.
   * Returns the router-level handler that re-arms the deadline when a response ends (mount it first).
   */
  public io.vertx.core.Handler<RoutingContext> install(Vertx vertx, HttpServer server,
                                                        io.vertx.core.Handler<HttpServerRequest> requests) {
    Deadlines deadlines = new Deadlines(vertx, headerTimeoutSeconds * 1000L);
    server.connectionHandler(deadlines::opened);
    server.requestHandler(request -> {
      deadlines.headersDone(request.connection());
      if (!unacceptable(request)) {
        requests.handle(request);
      }
    });
    server.invalidRequestHandler(request -> {
      deadlines.headersDone(request.connection());
      invalid(request);
    });
    return ctx -> {
      HttpConnection conn = ctx.request().connection();
      // The connection's exception handler is Osprey's alone (vertx-web keeps the response's, the body handlers the
      // request's), and Vert.x calls it first of the three: see undecodableBody. It lets go of the request once
      // that has ended, so an idle keep-alive connection does not hold on to its body.
      RoutingContext[] current = {ctx};
      conn.exceptionHandler(failure -> {
        RoutingContext in = current[0];
        if (in == null || !undecodableBody(in, failure)) {
          LOG.info("connection from {} failed: {}", conn.remoteAddress(), failure.toString());
        }
      });
      ctx.addEndHandler(x -> {
        current[0] = null;
        deadlines.responded(conn);
      });
      ctx.next();
    };
  }

  /**
   * Answers, and returns true for, a request whose head Netty decoded but that no route may take: an HTTP version
   * other than 1.0 and 1.1 (Vert.x would answer 501 with an empty body, see {@link #disableVertxWebSockets}), or an
   * HTTP/1.1 request without a valid Host header (vertx-web would fail it before any handler, so without a request
   * id).
   */
  static boolean unacceptable(HttpServerRequest request) {
    String why = null;
    if (request.version() == null) {
      why = "Only HTTP/1.0 and HTTP/1.1 are served";
    } else if (request.version() != HttpVersion.HTTP_1_0 && request.authority() == null) {
      why = "An HTTP/1.1 request needs a valid Host header";
    }
    if (why == null) {
      return false;
    }
    answer(request, ErrorCode.MALFORMED_REQUEST, why, null);
    return true;
  }

  /**
   * The body of a request failed to decode after its head was routed: a chunk size that is not hexadecimal or
   * overflows, a chunk without its CRLF. Vert.x then fails the connection: it reports the error to the request and
   * response exception handlers and closes the channel straight after, without flushing what they wrote (writes
   * made while a read is in progress wait for the end of the read). So the answer is written here, in the
   * connection's exception handler, which Vert.x calls before the response's and the request's (those the body
   * handlers set), and the connection is closed by {@link HttpConnection#close()}, which flushes pending writes
   * before it closes: the client gets its 400. Returns false, writing nothing, when the connection broke or an
   * answer has begun.
   */
  static boolean undecodableBody(RoutingContext ctx, Throwable failure) {
    HttpServerResponse response = ctx.response();
    if (failure instanceof HttpClosedException || failure instanceof java.io.IOException || response.headWritten()
        || response.closed()) {
      // The connection is gone (or broke), or an answer has begun: nothing more can be said.
      return false;
    }
    String id = RequestIds.of(ctx);
    if ("-".equals(id)) {
      id = UUID.randomUUID().toString();
    }
    response.setStatusCode(ErrorCode.MALFORMED_REQUEST.status())
        .putHeader(RequestIds.HEADER, id)
        .putHeader("Content-Type", "application/json; charset=utf-8")
        .putHeader("Connection", "close")
        .end(ApiError.of(ErrorCode.MALFORMED_REQUEST, "The request body cannot be decoded"
            + (failure.getMessage() == null ? "" : ": " + failure.getMessage())).toJson(id).encode());
    ctx.request().connection().close();
    return true;
  }

  /** The answer to a request Netty could not decode, in the error shape; the connection is closed after it. */
  static void invalid(HttpServerRequest request) {
    Throwable cause = request.decoderResult().cause();
    if (cause instanceof io.netty.handler.codec.PrematureChannelClosureException) {
      // The client closed the connection before its headers were complete (or the header deadline did).
      ACCESS.info("rid=- (incomplete request) closed-without-response: {}", cause.getMessage());
      return;
    }
    ErrorCode code;
    String message;
    if (cause instanceof TooLongHttpLineException) {
      code = ErrorCode.URI_TOO_LONG;
      message = "The request line is longer than http.max_initial_line_bytes";
    } else if (cause instanceof TooLongHttpHeaderException) {
      code = ErrorCode.HEADERS_TOO_LARGE;
      message = "The request headers are larger than http.max_header_bytes";
    } else {
      code = ErrorCode.MALFORMED_REQUEST;
      message = "The request cannot be decoded" + (cause == null || cause.getMessage() == null ? ""
          : ": " + cause.getMessage());
    }
    answer(request, code, message, "undecodable request");
  }

  /**
   * Writes {@code code} in the error shape with the request's id (the caller's when sane, as {@link RequestIds}
   * picks it) and closes the connection after it.
   */
  private static void answer(HttpServerRequest request, ErrorCode code, String message, String logAs) {
    String id = RequestIds.choose(request);
    JsonObject body = ApiError.of(code, message).toJson(id);
    String path;
    try {
      path = request.path();
    } catch (RuntimeException undecodable) {
      path = null;
    }
    // The access log's shape ("rid method path status time"), with the status really sent.
    ACCESS.info("rid={} {} {} {} 0ms ({})", id, request.method(), path == null ? "-" : path, code.status(),
        logAs == null ? message : logAs);
    request.response()
        .setStatusCode(code.status())
        .putHeader(RequestIds.HEADER, id)
        .putHeader("Content-Type", "application/json; charset=utf-8")
        .putHeader("Connection", "close")
        .end(body.encode())
        .onComplete(x -> request.connection().close());
  }

  /**
   * Per connection, the time by which a request's headers must be complete: armed when the connection opens and
   * when its last request in flight has its response (keep-alive), disarmed while a request is in flight. So a
   * connection idle between requests is also closed after the header timeout, as servers commonly do with
   * keep-alive. All on the server's event loop, so plain maps suffice.
   */
  private static final class Deadlines {
    private final long timeoutMs;
    /** Connections waiting for headers, with the time (ms) by which they must have them. */
    private final Map<HttpConnection, Long> deadlines = new HashMap<>();
    private final Map<HttpConnection, Integer> inFlight = new HashMap<>();

    Deadlines(Vertx vertx, long timeoutMs) {
      this.timeoutMs = timeoutMs;
      // One sweep for all connections rather than a timer each; a deadline is met to within a quarter of it.
      vertx.setPeriodic(Math.max(100, timeoutMs / 4), t -> sweep());
    }

    void opened(HttpConnection conn) {
      conn.closeHandler(v -> {
        deadlines.remove(conn);
        inFlight.remove(conn);
      });
      arm(conn);
    }

    void headersDone(HttpConnection conn) {
      deadlines.remove(conn);
      inFlight.merge(conn, 1, Integer::sum);
    }

    void responded(HttpConnection conn) {
      Integer left = inFlight.computeIfPresent(conn, (c, n) -> n <= 1 ? null : n - 1);
      if (left == null) {
        arm(conn);
      }
    }

    private void arm(HttpConnection conn) {
      deadlines.put(conn, System.currentTimeMillis() + timeoutMs);
    }

    private void sweep() {
      long now = System.currentTimeMillis();
      var it = deadlines.entrySet().iterator();
      while (it.hasNext()) {
        var e = it.next();
        if (e.getValue() <= now) {
          it.remove();
          if (!inFlight.containsKey(e.getKey())) {
            // No request is in flight: closing loses no answer.
            e.getKey().close();
          }
        }
      }
    }
  }
}
