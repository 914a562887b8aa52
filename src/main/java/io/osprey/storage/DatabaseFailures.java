package io.osprey.storage;

import io.vertx.sqlclient.ClosedConnectionException;
import io.vertx.sqlclient.DatabaseException;
import java.io.IOException;
import java.net.SocketException;
import java.nio.channels.ClosedChannelException;
import java.util.Locale;
import java.util.concurrent.TimeoutException;

/**
 * Tells a PostgreSQL outage (the server cannot be reached, went away, or is shutting down) from an error about the
 * statement or its data. An outage is temporary and the same request succeeds once the server is back: the pool opens
 * a fresh connection for each acquisition, so nothing here needs a restart. Callers at the HTTP edge answer an outage
 * with 503 DATABASE_UNAVAILABLE and Retry-After; anything else keeps its own answer.
 */
public final class DatabaseFailures {
  private DatabaseFailures() {
  }

  /** True when {@code failure} (or one of its causes) says PostgreSQL could not be reached or dropped the session. */
  public static boolean unavailable(Throwable failure) {
    Throwable t = failure;
    for (int depth = 0; t != null && depth < 8; depth++, t = t.getCause()) {
      if (t instanceof ClosedConnectionException
          // connection refused/reset, no route, broken pipe, closed channel: java.net.ConnectException and Netty's
          // subclasses of it (ConnectTimeoutException included), java.net.SocketException, ClosedChannelException,
          // and Netty's native-transport "Connection reset by peer". Not any IOException: a file error (say
          // NoSuchFileException) reaching the same failure handlers is no database outage.
          || t instanceof SocketException
          || t instanceof ClosedChannelException
          || t instanceof IOException && t.getClass().getName().startsWith("io.netty.")
          // the pool's acquisition timeout (a TimeoutException subclass internal to Vert.x) and its connect timeout
          || t instanceof TimeoutException) {
        return true;
      }
      if (t instanceof DatabaseException db && db.getSqlState() != null) {
        String state = db.getSqlState();
        // class 08: connection exception; 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
        return state.startsWith("08") || state.equals("57P01") || state.equals("57P02") || state.equals("57P03");
      }
      String message = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
      if (t instanceof io.vertx.core.VertxException && (message.contains("connection refused")
          || message.contains("connection reset") || message.contains("connection closed")
          || message.contains("connection is closed"))) {
        return true;
      }
    }
    return false;
  }
}
