package io.osprey.outbox;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.Value;
import org.msgpack.value.ValueType;

/**
 * The stream message contract (docs/stream-contract.md): a MessagePack map with string keys, gzip-compressed.
 * Encoding follows the JSON payload committed in the outbox row field by field, so the same names and values travel
 * to the stream; the image bytes of a Created message are a MessagePack binary.
 */
public final class StreamContract {
  public static final int SCHEMA_VERSION = 1;
  public static final String CONTENT_TYPE = "application/msgpack";
  public static final String CONTENT_ENCODING = "gzip";

  private StreamContract() {
  }

  /**
   * Encodes {@code fields} (JSON values: strings, numbers, booleans, null, arrays, objects) plus an optional
   * binary {@code image} under the key "image". The fields are deflated; the bytes of a JPEG or PNG image (already
   * compressed: deflating them again costs most of the drain's CPU and saves about nothing) go into the same gzip
   * stream as stored blocks. The body is one ordinary gzip member either way.
   */
  public static byte[] encode(JsonObject fields, byte[] image) {
    try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
      packer.packMapHeader(fields.size() + (image != null ? 1 : 0));
      for (Map.Entry<String, Object> e : fields) {
        packer.packString(e.getKey());
        pack(packer, e.getValue());
      }
      if (image == null) {
        return gzip(packer.toByteArray(), null);
      }
      packer.packString("image");
      packer.packBinaryHeader(image.length);
      String format = fields.getString("imageFormat");
      if ("jpg".equals(format) || "png".equals(format)) {
        return gzip(packer.toByteArray(), image);
      }
      packer.writePayload(image);
      return gzip(packer.toByteArray(), null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void pack(MessageBufferPacker p, Object v) throws IOException {
    if (v == null) {
      p.packNil();
    } else if (v instanceof String s) {
      p.packString(s);
    } else if (v instanceof Boolean b) {
      p.packBoolean(b);
    } else if (v instanceof Integer || v instanceof Long || v instanceof Short) {
      p.packLong(((Number) v).longValue());
    } else if (v instanceof Number n) {
      p.packDouble(n.doubleValue());
    } else if (v instanceof JsonObject o) {
      p.packMapHeader(o.size());
      for (Map.Entry<String, Object> e : o) {
        p.packString(e.getKey());
        pack(p, e.getValue());
      }
    } else if (v instanceof JsonArray a) {
      p.packArrayHeader(a.size());
      for (Object item : a) {
        pack(p, item);
      }
    } else if (v instanceof byte[] b) {
      p.packBinaryHeader(b.length);
      p.writePayload(b);
    } else {
      p.packString(String.valueOf(v));
    }
  }

  /** Decodes a body to JSON; a binary value becomes {@code {"$binary": <base64>, "size": n}}. */
  public static JsonObject decode(byte[] body, String contentEncoding) {
    byte[] raw = CONTENT_ENCODING.equals(contentEncoding) ? gunzip(body) : body;
    try (MessageUnpacker u = MessagePack.newDefaultUnpacker(raw)) {
      Value v = u.unpackValue();
      return (JsonObject) toJson(v);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Object toJson(Value v) {
    ValueType t = v.getValueType();
    return switch (t) {
      case NIL -> null;
      case BOOLEAN -> v.asBooleanValue().getBoolean();
      case INTEGER -> v.asIntegerValue().toLong();
      case FLOAT -> v.asFloatValue().toDouble();
      case STRING -> v.asStringValue().asString();
      case BINARY -> new JsonObject().put("$binary", Base64.getEncoder().encodeToString(v.asBinaryValue().asByteArray()))
          .put("size", v.asBinaryValue().asByteArray().length);
      case ARRAY -> {
        JsonArray a = new JsonArray();
        v.asArrayValue().forEach(x -> a.add(toJson(x)));
        yield a;
      }
      case MAP -> {
        JsonObject o = new JsonObject();
        v.asMapValue().map().forEach((k, x) -> o.put(k.asStringValue().asString(), toJson(x)));
        yield o;
      }
      case EXTENSION -> null;
    };
  }

  /** The image bytes of a decoded message, or null. */
  public static byte[] image(JsonObject decoded) {
    JsonObject bin = decoded.getJsonObject("image");
    return bin == null ? null : Base64.getDecoder().decode(bin.getString("$binary"));
  }

  /** One deflater per thread (the drainer's and the tests'), reset for each body: creating one costs more than
   * deflating a small body. */
  private static final ThreadLocal<Deflater> DEFLATER =
      ThreadLocal.withInitial(() -> new Deflater(Deflater.DEFAULT_COMPRESSION, true));
  /** RFC 1952 member header: magic, deflate, no flags, no time, no extra flags, unknown OS. */
  private static final byte[] GZIP_HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};

  static byte[] gzip(byte[] raw) {
    return gzip(raw, null);
  }

  /**
   * One gzip member of {@code deflated} (compressed at the default level) followed by {@code stored} (may be null)
   * in stored blocks: zlib switches the level in the middle of a stream, the data before the switch keeping the
   * old one.
   */
  static byte[] gzip(byte[] deflated, byte[] stored) {
    Deflater d = DEFLATER.get();
    d.reset();
    d.setLevel(Deflater.DEFAULT_COMPRESSION);
    CRC32 crc = new CRC32();
    crc.update(deflated);
    int storedLength = stored == null ? 0 : stored.length;
    ByteArrayOutputStream out = new ByteArrayOutputStream(deflated.length / 2 + storedLength + storedLength / 1000
        + 64);
    out.write(GZIP_HEADER, 0, GZIP_HEADER.length);
    byte[] buf = new byte[16 * 1024];
    d.setInput(deflated);
    while (!d.needsInput()) {
      out.write(buf, 0, d.deflate(buf));
    }
    if (stored != null) {
      crc.update(stored);
      d.setLevel(Deflater.NO_COMPRESSION);
      // With no input pending, this flushes what was deflated so far under the old level and applies the new one.
      int n;
      while ((n = d.deflate(buf)) > 0) {
        out.write(buf, 0, n);
      }
      d.setInput(stored);
      while (!d.needsInput()) {
        out.write(buf, 0, d.deflate(buf));
      }
    }
    d.finish();
    while (!d.finished()) {
      out.write(buf, 0, d.deflate(buf));
    }
    long c = crc.getValue();
    long size = (long) deflated.length + storedLength;
    for (int i = 0; i < 4; i++) {
      out.write((int) (c >>> (8 * i)) & 0xff);
    }
    for (int i = 0; i < 4; i++) {
      out.write((int) (size >>> (8 * i)) & 0xff);
    }
    return out.toByteArray();
  }

  static byte[] gunzip(byte[] body) {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(body))) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
