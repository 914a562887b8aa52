package io.osprey.testing;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 over a bare socket, so malformed requests reach the server exactly as written (no client library fixes
 * them up). Reads one response; {@code elapsedMs} counts from the last byte sent to the end of the response.
 */
public final class RawHttp {
  private RawHttp() {
  }

  public record Response(int status, Map<String, String> headers, String body, long elapsedMs) {
    public JsonObject json() {
      return new JsonObject(body);
    }

    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    @Override
    public String toString() {
      return status + " " + headers + " " + body + " (" + elapsedMs + " ms)";
    }
  }

  /** Sends {@code head} (request line and headers, CRLF-separated, without the blank line) then {@code body}. */
  public static Response send(int port, String head, byte[] body, int timeoutMs) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(timeoutMs);
      OutputStream out = socket.getOutputStream();
      out.write((head + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      if (body != null) {
        out.write(body);
      }
      out.flush();
      long sent = System.nanoTime();
      return read(socket.getInputStream(), sent);
    }
  }

  /** A request with a Content-Length header added for {@code body}. */
  public static Response post(int port, String path, String contentType, String token, byte[] body, int timeoutMs)
      throws IOException {
    String head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + contentType
        + (token == null ? "" : "\r\nAuthorization: Bearer " + token) + "\r\nContent-Length: " + body.length;
    return send(port, head, body, timeoutMs);
  }

  /** {@link #exchange}'s status when the server closed the connection without a status line. */
  public static final int NO_ANSWER = 0;
  /** {@link #exchange}'s status when nothing complete came back within the timeout. */
  public static final int HUNG = -1;

  /**
   * Sends {@code request} exactly as given, on its own thread while the answer is read, so a server that answers
   * early (413 before the body is read, then closes) is seen answering, not as a broken pipe. Interim 1xx answers
   * are skipped. {@code elapsedMs} counts from the last byte written (or the write failing) to the end of the
   * answer; the status is {@link #HUNG} or {@link #NO_ANSWER} when no answer came.
   */
  public static Response exchange(int port, byte[] request, int timeoutMs) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5000);
      socket.setSoTimeout(timeoutMs);
      java.util.concurrent.atomic.AtomicLong lastByte = new java.util.concurrent.atomic.AtomicLong();
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
      long start = System.nanoTime();
      writer.start();
      Response r;
      InputStream in = socket.getInputStream();
      do {
        r = read(in, start);
      } while (r.status() >= 100 && r.status() < 200);
      long end = System.nanoTime();
      int status = r.status();
      if (status == -1) {
        status = (end - start) / 1_000_000 >= timeoutMs - 50 ? HUNG : NO_ANSWER;
      }
      long sent = lastByte.get() == 0 ? end : lastByte.get();
      return new Response(status, r.headers(), r.body(), Math.max(0, (end - sent) / 1_000_000));
    }
  }

  /** Reads one response; a status of -1 means the connection closed (or timed out) before a status line came. */
  public static Response read(InputStream in, long sentNanos) throws IOException {
    ByteArrayOutputStream raw = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int headEnd = -1;
    int contentLength = -1;
    try {
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        raw.write(buf, 0, n);
        byte[] all = raw.toByteArray();
        if (headEnd < 0) {
          headEnd = indexOf(all, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
          if (headEnd >= 0) {
            String head = new String(all, 0, headEnd, StandardCharsets.ISO_8859_1);
            for (String line : head.split("\r\n")) {
              if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                contentLength = Integer.parseInt(line.substring(15).trim());
              }
            }
          }
        }
        if (headEnd >= 0 && (contentLength >= 0 && all.length >= headEnd + 4 + contentLength
            || all.length > 9 && all[9] == '1')) {
          break;
        }
      }
    } catch (SocketTimeoutException | java.net.SocketException e) {
      // reported as what was read so far
    }
    long elapsed = (System.nanoTime() - sentNanos) / 1_000_000;
    byte[] all = raw.toByteArray();
    if (headEnd < 0) {
      return new Response(-1, Map.of(), new String(all, StandardCharsets.ISO_8859_1), elapsed);
    }
    String[] lines = new String(all, 0, headEnd, StandardCharsets.ISO_8859_1).split("\r\n");
    int status = Integer.parseInt(lines[0].split(" ")[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
    }
    int end = contentLength >= 0 ? Math.min(all.length, headEnd + 4 + contentLength) : all.length;
    return new Response(status, headers, new String(all, headEnd + 4, end - headEnd - 4, StandardCharsets.UTF_8),
        elapsed);
  }

  /** Where {@code pattern} first occurs in {@code data}, or -1. */
  public static int indexOf(byte[] data, byte[] pattern) {
    outer:
    for (int i = 0; i + pattern.length <= data.length; i++) {
      for (int j = 0; j < pattern.length; j++) {
        if (data[i + j] != pattern[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
