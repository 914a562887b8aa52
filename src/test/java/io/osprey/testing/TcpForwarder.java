package io.osprey.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP forwarder in front of a real server, for faults the server itself cannot be asked to make:
 * <ul>
 *   <li>{@link #off()} closes the listening socket (new connections are refused) and cuts every forwarded
 *   connection; {@link #on()} listens again on the same port;</li>
 *   <li>{@link #muteReplies(boolean)} keeps forwarding what clients send but drops what the server answers, as a
 *   network that loses the way back does: requests arrive, their answers never do;</li>
 *   <li>{@link #cut()} cuts the forwarded connections and keeps listening.</li>
 * </ul>
 */
public final class TcpForwarder implements AutoCloseable {
  private final String targetHost;
  private final int targetPort;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile ServerSocket server;
  private volatile boolean muted;
  private int port;

  public TcpForwarder(String targetHost, int targetPort) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /** A forwarder already listening on a free port. */
  public static TcpForwarder started(String targetHost, int targetPort) throws IOException {
    TcpForwarder f = new TcpForwarder(targetHost, targetPort);
    f.on();
    return f;
  }

  public int port() {
    return port;
  }

  public synchronized void on() throws IOException {
    if (server != null) {
      return;
    }
    ServerSocket s = new ServerSocket();
    s.setReuseAddress(true);
    s.bind(new InetSocketAddress("127.0.0.1", port));
    port = s.getLocalPort();
    server = s;
    Thread accept = new Thread(() -> {
      while (!s.isClosed()) {
        try {
          Socket client = s.accept();
          Socket upstream = new Socket(targetHost, targetPort);
          sockets.add(client);
          sockets.add(upstream);
          pipe(client, upstream, false);
          pipe(upstream, client, true);
        } catch (IOException e) {
          // closed by off(), or one connection failed: the loop condition decides
        }
      }
    }, "tcp-forwarder-accept");
    accept.setDaemon(true);
    accept.start();
  }

  public synchronized void off() throws IOException {
    if (server != null) {
      server.close();
      server = null;
    }
    cut();
  }

  /** While on, the server's bytes are read and dropped; the clients' bytes still reach the server. */
  public void muteReplies(boolean mute) {
    this.muted = mute;
  }

  /** Closes every forwarded connection; new ones are accepted while the forwarder is on. */
  public void cut() {
    List<Socket> open = new ArrayList<>(sockets);
    sockets.clear();
    for (Socket socket : open) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  private void pipe(Socket from, Socket to, boolean reply) {
    Thread t = new Thread(() -> {
      byte[] buffer = new byte[16384];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        while ((n = in.read(buffer)) >= 0) {
          if (reply && muted) {
            continue;
          }
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // one side closed
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException ignored) {
          // already closed
        }
        sockets.remove(from);
        sockets.remove(to);
      }
    }, "tcp-forwarder-pipe");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() throws IOException {
    off();
  }
}
