package io.osprey.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** A real text/event-stream client over the JDK HTTP client, parsing frames as EventSource does. */
public final class SseClient implements AutoCloseable {
  private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /**
   * One dispatched event ({@code event} defaults to "message", which is what reaches a browser's
   * {@code EventSource.onmessage}), or a comment line when {@code comment}.
   */
  public record Frame(String id, String event, String data, boolean comment) {
    /** The {@code "type"} field of the JSON data (annotation, status, reset, disconnect, auth), or null. */
    public String type() {
      if (comment || data == null) {
        return null;
      }
      try {
        Object t = new io.vertx.core.json.JsonObject(data).getValue("type");
        return t instanceof String s ? s : null;
      } catch (RuntimeException e) {
        return null;
      }
    }
  }

  private final BlockingQueue<Frame> frames = new LinkedBlockingQueue<>();
  private final HttpResponse<Stream<String>> response;
  private final Thread reader;
  private volatile boolean ended;
  /** As a browser's EventSource keeps it: the id of the last block that named one, dispatched or not. */
  private volatile String lastEventId;

  private SseClient(HttpResponse<Stream<String>> response) {
    this.response = response;
    this.reader = new Thread(this::read, "sse-client");
    reader.setDaemon(true);
    reader.start();
  }

  public static SseClient open(String url, String token, String lastEventId) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).header("Accept", "text/event-stream").GET();
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    if (lastEventId != null) {
      b.header("Last-Event-ID", lastEventId);
    }
    return new SseClient(CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofLines()));
  }

  public int status() {
    return response.statusCode();
  }

  public String contentType() {
    return response.headers().firstValue("Content-Type").orElse("");
  }

  private void read() {
    String id = null;
    String event = null;
    StringBuilder data = null;
    try (Stream<String> lines = response.body()) {
      for (String line : (Iterable<String>) lines::iterator) {
        if (line.isEmpty()) {
          if (id != null) {
            lastEventId = id;
          }
          if (data != null) {
            frames.add(new Frame(id, event == null ? "message" : event, data.toString(), false));
          }
          id = null;
          event = null;
          data = null;
        } else if (line.startsWith(":")) {
          frames.add(new Frame(null, null, line.substring(1).strip(), true));
        } else if (line.startsWith("id:")) {
          id = line.substring(3).strip();
        } else if (line.startsWith("event:")) {
          event = line.substring(6).strip();
        } else if (line.startsWith("data:")) {
          data = data == null ? new StringBuilder() : data.append('\n');
          data.append(line.substring(5).strip());
        }
      }
    } catch (RuntimeException e) {
      // closed by us or by the server
    } finally {
      ended = true;
    }
  }

  /** The next non-comment frame within the timeout, or null. */
  public Frame next(long timeoutMs) throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    while (true) {
      long left = end - System.currentTimeMillis();
      Frame f = left <= 0 ? null : frames.poll(left, TimeUnit.MILLISECONDS);
      if (f == null || !f.comment()) {
        return f;
      }
    }
  }

  /** Every frame (comments included) that arrives within {@code ms}. */
  public List<Frame> drain(long ms) throws InterruptedException {
    List<Frame> out = new ArrayList<>();
    long end = System.currentTimeMillis() + ms;
    while (System.currentTimeMillis() < end) {
      Frame f = frames.poll(end - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
      if (f != null) {
        out.add(f);
      }
    }
    return out;
  }

  /** The id a browser would send as Last-Event-ID on reconnecting, or null when no block has named one. */
  public String lastEventId() {
    return lastEventId;
  }

  public boolean ended() {
    return ended;
  }

  @Override
  public void close() {
    reader.interrupt();
    try {
      response.body().close();
    } catch (RuntimeException ignored) {
      // already closed
    }
  }
}
