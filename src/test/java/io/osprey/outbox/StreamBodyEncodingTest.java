package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessagePack;

/**
 * Stream bodies are one plain gzip member of the MessagePack map, whether the image bytes were deflated (TIFF) or
 * stored (JPEG, PNG): any gzip reader gets the exact MessagePack back, and the deflater reused per thread leaves
 * nothing of one body in the next.
 */
@UnitTest
class StreamBodyEncodingTest {
  private static JsonObject fields(String format) {
    JsonArray detections = new JsonArray();
    for (int i = 0; i < 5; i++) {
      detections.add(new JsonObject().put("classNum", i).put("label", "c" + i).put("centerX", 0.1 * i)
          .put("confidence", 0.8));
    }
    return new JsonObject().put("schemaVersion", 1).put("kind", "annotation").put("outboxId", 42L)
        .put("annotationId", "ab".repeat(16)).put("operation", "Created").put("detections", detections)
        .put("imageFormat", format);
  }

  /** What the body inflates to, read by the JDK's gzip reader. */
  private static byte[] inflated(JsonObject fields, byte[] image) throws Exception {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(StreamContract.encode(fields, image)))) {
      return in.readAllBytes();
    }
  }

  @Test
  void jpegAndPngBytesAreStoredAndTheBodyInflatesToTheExactMap() throws Exception {
    Random random = new Random(3);
    for (String format : new String[] {"jpg", "png", "tiff"}) {
      for (int size : new int[] {0, 1, 3_792, 70_000, 3_000_000}) {
        byte[] image = new byte[size];
        random.nextBytes(image);
        JsonObject fields = fields(format);
        byte[] body = StreamContract.encode(fields, image);
        JsonObject decoded = StreamContract.decode(body, StreamContract.CONTENT_ENCODING);
        assertArrayEquals(image, StreamContract.image(decoded), format + " " + size);
        assertEquals(fields.getJsonArray("detections"), decoded.getJsonArray("detections"));
        assertEquals(42L, decoded.getLong("outboxId"));
        byte[] raw = inflated(fields, image);
        try (var unpacker = MessagePack.newDefaultUnpacker(raw)) {
          assertEquals(fields.size() + 1, unpacker.unpackValue().asMapValue().size());
          assertTrue(!unpacker.hasNext(), "one MessagePack map, nothing after it");
        }
        // Random bytes do not deflate: stored they cost 5 bytes per 64 KiB block plus the gzip framing.
        assertTrue(body.length < raw.length + raw.length / 1000 + 64, format + " " + size + ": " + body.length
            + " for " + raw.length);
      }
    }
  }

  @Test
  void compressibleFieldsAndTiffStillDeflate() throws Exception {
    byte[] flat = new byte[200_000]; // an uncompressed TIFF strip of one colour
    byte[] tiff = StreamContract.encode(fields("tiff"), flat);
    assertTrue(tiff.length < 2_000, "a TIFF is deflated: " + tiff.length);
    byte[] jpg = StreamContract.encode(fields("jpg"), flat);
    assertTrue(jpg.length >= flat.length, "JPEG bytes are stored as they are: " + jpg.length);
    JsonObject many = new JsonObject().put("annotationIds", new JsonArray(java.util.Collections.nCopies(500,
        "ab".repeat(16))));
    byte[] bulk = StreamContract.encode(many, null);
    assertTrue(bulk.length < 1_000, "fields alone are deflated: " + bulk.length);
    assertEquals(many, StreamContract.decode(bulk, StreamContract.CONTENT_ENCODING));
  }

  @Test
  void consecutiveBodiesOnOneThreadDoNotShareState() {
    byte[] big = new byte[500_000];
    new Random(5).nextBytes(big);
    byte[] small = {1, 2, 3};
    byte[] first = StreamContract.encode(fields("png"), small);
    StreamContract.encode(fields("tiff"), big);
    StreamContract.encode(fields("jpg"), big);
    assertArrayEquals(first, StreamContract.encode(fields("png"), small), "the same input gives the same body");
    assertArrayEquals(small, StreamContract.image(StreamContract.decode(first, StreamContract.CONTENT_ENCODING)));
  }
}
