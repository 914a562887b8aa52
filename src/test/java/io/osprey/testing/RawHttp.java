package io.osprey.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * HTTP/1.1 over a bare socket: the bytes go out exactly as given, however broken, so malformed requests really reach
 * the server (a proper client would refuse to send them). The request is written on its own thread while the answer
 * is read, so a server that answers early (413 before the body is read) is seen answering, not as a broken pipe.
 */
public final class RawHttp {
  private RawHttp() {
  }

  /**
   * What came back. {@code status} is the status code, {@link #NO_ANSWER} when the server closed the connection
   * without a status line, {@link #HUNG} when nothing complete came back within the timeout.
   * {@code answerMillis} is the time from the last byte written (or the write failing) to the end of the answer.
   */
  public record Reply(int status, Map<String, String> headers, byte[] body, long answerMillis) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    public String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  public static final int NO_ANSWER = 0;
  public static final int HUNG = -1;

  /** Sends {@code request} to 127.0.0.1:{@code port} and reads one answer, waiting at most {@code timeoutMillis}. */
  public static Reply exchange(int port, byte[] request, int timeoutMillis) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      socket.setSoTimeout(timeoutMillis);
      AtomicLong lastByte = new AtomicLong(0);
      Thread writer = new Thread(() -> {
        try {
          OutputStream out = socket.getOutputStream();
          for (int off = 0; off < request.length; off += 64 * 1024) {
            out.write(request, off, Math.min(64 * 1024, request.length - off));
          }
          out.flush();
        } catch (IOException stoppedByServer) {
          // the server answered and closed early: what counts is the answer
        } finally {
          lastByte.set(System.nanoTime());
        }
      }, "raw-http-writer");
      writer.setDaemon(true);
      writer.start();
      long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
      int status;
      Map<String, String> headers = new LinkedHashMap<>();
      byte[] body = new byte[0];
      try {
        InputStream in = socket.getInputStream();
        String statusLine = line(in);
        if (statusLine == null) {
          status = NO_ANSWER;
        } else {
          status = status(statusLine);
          readHeaders(in, headers);
          while (status >= 100 && status < 200) {
            // 100 Continue and other interim answers: the final one follows
            headers.clear();
            String next = line(in);
            status = next == null ? NO_ANSWER : status(next);
            readHeaders(in, headers);
          }
          body = status == NO_ANSWER ? new byte[0] : body(in, headers);
        }
      } catch (SocketTimeoutException e) {
        status = HUNG;
      } catch (IOException e) {
        // reset by the server before a status line came
        status = NO_ANSWER;
      }
      long end = System.nanoTime();
      try {
        writer.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      long sent = lastByte.get() == 0 ? end : lastByte.get();
      return new Reply(status, headers, body, Math.max(0, (end - sent) / 1_000_000));
    }
  }

  private static int status(String statusLine) {
    String[] p = statusLine.split(" ", 3);
    try {
      return p.length >= 2 && p[0].startsWith("HTTP/") ? Integer.parseInt(p[1].trim()) : NO_ANSWER;
    } catch (NumberFormatException e) {
      return NO_ANSWER;
    }
  }

  private static void readHeaders(InputStream in, Map<String, String> headers) throws IOException {
    for (String h = line(in); h != null && !h.isEmpty(); h = line(in)) {
      int c = h.indexOf(':');
      if (c > 0) {
        headers.put(h.substring(0, c).trim().toLowerCase(Locale.ROOT), h.substring(c + 1).trim());
      }
    }
  }

  private static byte[] body(InputStream in, Map<String, String> headers) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    String te = headers.get("transfer-encoding");
    String cl = headers.get("content-length");
    if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
      while (true) {
        String size = line(in);
        if (size == null) {
          break;
        }
        int n = Integer.parseInt(size.split(";")[0].trim(), 16);
        if (n == 0) {
          line(in);
          break;
        }
        out.write(in.readNBytes(n));
        line(in);
      }
    } else if (cl != null) {
      out.write(in.readNBytes(Integer.parseInt(cl.trim())));
    } else if (!"keep-alive".equalsIgnoreCase(headers.get("connection"))) {
      out.write(in.readAllBytes());
    }
    return out.toByteArray();
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) != -1) {
      if (c == '\n') {
        byte[] bytes = b.toByteArray();
        int len = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, len, StandardCharsets.ISO_8859_1);
      }
      b.write(c);
    }
    return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
  }
}
