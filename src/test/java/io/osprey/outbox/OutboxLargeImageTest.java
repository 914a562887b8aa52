package io.osprey.outbox;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_CUBIC;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.osprey.Role;
import com.rabbitmq.stream.Environment;
import com.rabbitmq.stream.Message;
import io.osprey.config.Config;
import io.osprey.config.ConfigLoader;
import io.osprey.inference.NativeLibraries;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.StreamMessages;
import io.osprey.testing.StreamMessages.Received;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Size;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Issue 15 item 7: aerial photos travel in the stream with their bytes. Runs against the broker as
 * scripts/services.sh configures it ({@code stream.frame_max} 64 MiB in RabbitMQ's conf.d).
 */
@IntegrationTest
class OutboxLargeImageTest {
  /** What scripts/services.sh (and docker/rabbitmq/rabbitmq.conf) give the broker. */
  private static final int BROKER_FRAME_MAX = 64 << 20;
  private static final Logger FRAMES_LOG = (Logger) LoggerFactory.getLogger(StreamFrames.class);
  private static final ListAppender<ILoggingEvent> LOG = new ListAppender<>();
  private static byte[] photo;

  @BeforeAll
  static void photo() throws Exception {
    LOG.start();
    FRAMES_LOG.addAppender(LOG);
    photo = aerialJpeg(5_000_000);
  }

  @AfterAll
  static void detach() {
    FRAMES_LOG.detachAppender(LOG);
  }

  /**
   * A real aerial photo (terrain1.jpg, 2048x1365, 0.6 MB) upscaled and re-encoded at JPEG quality 100 until it
   * weighs at least {@code minBytes}: the size of a drone's full-resolution frame.
   */
  static byte[] aerialJpeg(int minBytes) throws Exception {
    Path source = Fixtures.realImages().stream().filter(p -> p.getFileName().toString().equals("terrain1.jpg"))
        .findFirst().orElseThrow(() -> new AssertionError("terrain1.jpg missing from " + Fixtures.imagesDir()));
    NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
    Path out = Files.createTempFile("osprey-aerial-", ".jpg");
    try (Mat src = imread(source.toString(), IMREAD_COLOR);
         IntPointer quality = new IntPointer(IMWRITE_JPEG_QUALITY, 100)) {
      for (double scale = 2.0; scale <= 4.0; scale += 0.25) {
        try (Mat big = new Mat()) {
          resize(src, big, new Size((int) (src.cols() * scale), (int) (src.rows() * scale)), 0, 0, INTER_CUBIC);
          assertTrue(imwrite(out.toString(), big, quality));
        }
        if (Files.size(out) >= minBytes) {
          return Files.readAllBytes(out);
        }
      }
      throw new AssertionError("could not make a JPEG of " + minBytes + " bytes from " + source);
    } finally {
      Files.deleteIfExists(out);
    }
  }

  private static JsonObject outboxCheck(String base) throws Exception {
    long end = System.currentTimeMillis() + 20_000;
    while (true) {
      JsonObject ready = new JsonObject(Http.get(base + "/health/ready").body());
      JsonObject data = ready.getJsonArray("checks").stream().map(JsonObject.class::cast)
          .filter(c -> "outbox".equals(c.getString("id"))).findFirst()
          .orElseThrow(() -> new AssertionError("no outbox check: " + ready)).getJsonObject("data");
      // Until the start probe's connection agreed a frame size, the value is a sentence.
      if (data.getValue("frameMaxNegotiated") instanceof Number || System.currentTimeMillis() > end) {
        return data;
      }
      Thread.sleep(100);
    }
  }

  private static List<String> frameLines(Config config) {
    synchronized (LOG.list) {
      return LOG.list.stream().map(ILoggingEvent::getFormattedMessage)
          .filter(m -> m.startsWith("stream frames (" + config.string("stream.name") + ")")).toList();
    }
  }

  private static JsonObject created(TestService service, String id) throws Exception {
    OutboxStreamTest.waitOutboxEmpty(service, 30_000);
    List<Received> all = StreamMessages.read(service.config(), 1, Duration.ofSeconds(30), Duration.ofMillis(300));
    return all.stream().map(Received::body)
        .filter(b -> id.equals(b.getString("annotationId")) && "Created".equals(b.getString("operation")))
        .findFirst().orElseThrow(() -> new AssertionError("no Created message for " + id + " in " + all.size()));
  }

  @Test
  void fiveMegabyteAerialPhotoArrivesInTheStreamWithItsBytes() throws Exception {
    assertTrue(photo.length >= 5_000_000 && photo.length < 10_000_000, "a ~5 MB photo: " + photo.length);
    try (TestService service = TestService.start(OutboxLargeImageTest.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", true)))) {
      JsonObject ready = outboxCheck(service.baseUrl());
      assertEquals(BROKER_FRAME_MAX, ready.getInteger("frameMaxBroker"),
          "the broker offers 64 MiB frames (scripts/services.sh sets stream.frame_max): " + ready);
      assertEquals(service.config().integer("stream.max_message_bytes") + StreamFrames.FRAME_OVERHEAD,
          ready.getInteger("frameMaxNegotiated"), "the publisher gets the frame it asked for: " + ready);
      assertNull(ready.getValue("imageOmitted"), "no image is left out with the defaults: " + ready);
      assertTrue(ready.getLong("maxInlineImageBytes") >= service.config().longValue("annotations.max_image_bytes"),
          "the default stream.max_message_bytes carries every image the upload limit allows: " + ready);

      String id = OutboxStreamTest.create(service.baseUrl(), photo, "big");
      JsonObject created = created(service, id);
      assertNull(created.getValue("imageOmitted"), created.copy().put("image", "..").encode());
      assertArrayEquals(photo, StreamContract.image(created), "the photo's bytes arrive in the stream");
      assertEquals("jpg", created.getString("imageFormat"));

      List<String> lines = frameLines(service.config());
      assertEquals(1, lines.size(), "one line at start (the publisher's own connection agreed the same): " + lines);
      assertTrue(lines.get(0).contains("agreed " + ready.getInteger("frameMaxNegotiated") + " bytes")
          && lines.get(0).contains("travels inline"), lines.get(0));
    }
  }

  @Test
  void imageOverTheMessageLimitGoesWithoutItsBytesAndReadinessSaysSo() throws Exception {
    int limit = 2 << 20;
    try (TestService service = TestService.start(OutboxLargeImageTest.class, Role.API, new JsonObject()
        .put("outbox", new JsonObject().put("enabled", true))
        .put("stream", new JsonObject().put("max_message_bytes", limit)))) {
      JsonObject ready = outboxCheck(service.baseUrl());
      assertEquals("too_large", ready.getString("imageOmitted"), ready.encode());
      assertEquals(limit - StreamFrames.ENVELOPE_BYTES, ready.getLong("imageOmittedAboveBytes"), ready.encode());
      assertTrue(ready.getString("imageOmittedReason").contains("stream.max_message_bytes"), ready.encode());

      String id = OutboxStreamTest.create(service.baseUrl(), photo, "too-big");
      JsonObject created = created(service, id);
      assertEquals("too_large", created.getString("imageOmitted"));
      assertEquals(photo.length, created.getLong("imageSize"));
      assertNull(StreamContract.image(created), "no bytes in the message");
      assertArrayEquals(photo, Http.bytes(service.baseUrl() + "/annotations/" + id + "/image",
          TestAuth.annotator()).body(), "the image is still served by the API");

      List<String> lines = frameLines(service.config());
      assertEquals(1, lines.size(), lines.toString());
      assertTrue(lines.get(0).contains("imageOmitted: too_large"), lines.get(0));
    }
  }

  @Test
  void aBrokerFrameSmallerThanTheConfigurationLowersTheLimitAndSaysWhy() throws Exception {
    // Asks for more than the broker's 64 MiB, for images as large: the agreed frame is the broker's.
    int wanted = 100 << 20;
    Config config = ConfigLoader.load(System.getenv()).with(new JsonObject()
        .put("stream", new JsonObject().put("name", "osprey-test-frames-" + UUID.randomUUID())
            .put("max_message_bytes", wanted))
        .put("annotations", new JsonObject().put("max_image_bytes", wanted)));
    StreamFrames frames = new StreamFrames(io.osprey.outbox.OutboxSettings.from(config));
    assertNull(frames.tune(), "nothing agreed before a connection");
    StreamPublisher.probe(io.osprey.outbox.OutboxSettings.from(config), frames);
    assertEquals(new StreamFrames.Tune(BROKER_FRAME_MAX, BROKER_FRAME_MAX), frames.tune(),
        "read from the real broker's Tune exchange");
    assertEquals(BROKER_FRAME_MAX - StreamFrames.FRAME_OVERHEAD, frames.maxMessageBytes(),
        "larger messages would be refused by the client on every attempt");
    JsonObject ready = frames.readiness();
    assertEquals("too_large", ready.getString("imageOmitted"), ready.encode());
    assertTrue(ready.getString("imageOmittedReason").contains("the broker's stream.frame_max is too small"),
        ready.encode());
    List<ILoggingEvent> lines;
    synchronized (LOG.list) {
      lines = LOG.list.stream().filter(e -> e.getFormattedMessage().startsWith("stream frames ("
          + config.string("stream.name") + ")")).toList();
    }
    assertEquals(1, lines.size(), lines.toString());
    assertEquals(Level.WARN, lines.get(0).getLevel());
  }

  @Test
  void aMessageOfTheFullLimitFitsTheAgreedFrame() throws Exception {
    // The frame overhead is an estimate: a body of exactly the limit, with the drainer's properties, must go through.
    Config config = ConfigLoader.load(System.getenv()).with(new JsonObject()
        .put("stream", new JsonObject().put("name", "osprey-test-frames-" + UUID.randomUUID())
            .put("producer_name", "osprey-test-frames").put("max_message_bytes", 1 << 20)));
    StreamFrames frames = new StreamFrames(io.osprey.outbox.OutboxSettings.from(config));
    StreamPublisher publisher = new StreamPublisher(io.osprey.outbox.OutboxSettings.from(config), frames);
    try {
      byte[] body = new byte[frames.maxMessageBytes()];
      new java.util.Random(7).nextBytes(body);
      Message message = publisher.messageBuilder().publishingId(1)
          .properties().messageId(Long.MAX_VALUE).contentType(StreamContract.CONTENT_TYPE)
          .contentEncoding(StreamContract.CONTENT_ENCODING).messageBuilder()
          .applicationProperties().entry("schema-version", StreamContract.SCHEMA_VERSION)
          .entry("operation", "StatusChanged").entry("annotation-id", "ab".repeat(16)).messageBuilder()
          .addData(body).build();
      assertEquals(1 << 20, body.length);
      assertTrue(publisher.publish(List.of(message), nanos -> { })[0], "confirmed by the broker");
    } finally {
      publisher.close();
      try (Environment env = StreamPublisher.environment(io.osprey.outbox.OutboxSettings.Broker.from(config))) {
        env.deleteStream(config.string("stream.name"));
      }
    }
  }
}
