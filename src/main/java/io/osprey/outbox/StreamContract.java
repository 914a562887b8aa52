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
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePacker;
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
   * compressed: deflating them again costs most of the drain's CPU and saves about nothing) follow in the same
   * deflate stream as stored blocks. The body is one ordinary gzip member either way.
   */
  public static byte[] encode(JsonObject fields, byte[] image) {
    Scratch scratch = SCRATCH.get();
    boolean done = false;
    try {
      MessagePacker packer = scratch.packer();
      packer.packMapHeader(fields.size() + (image != null ? 1 : 0));
      for (Map.Entry<String, Object> e : fields) {
        packer.packString(e.getKey());
        pack(packer, e.getValue());
      }
      if (image == null) {
        byte[] body = gzip(scratch, scratch.packed(), null);
        done = true;
        return body;
      }
      packer.packString("image");
      packer.packBinaryHeader(image.length);
      String format = fields.getString("imageFormat");
      if ("jpg".equals(format) || "png".equals(format)) {
        byte[] body = gzip(scratch, scratch.packed(), image);
        done = true;
        return body;
      }
      packer.writePayload(image);
      byte[] body = gzip(scratch, scratch.packed(), null);
      done = true;
      return body;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      scratch.release(done);
    }
  }

  private static void pack(MessagePacker p, Object v) throws IOException {
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

  /**
   * What one thread reuses from body to body (the drainer's build threads, the tests'): a packer with its buffer, a
   * deflater, and the output buffers. Allocating them per body cost more than packing and deflating a small body.
   */
  private static final class Scratch {
    /** Buffers that grew past this for one large body are dropped after it, not kept for the thread's life. */
    private static final int KEEP_BYTES = 1 << 20;
    final Deflater deflater = new Deflater(Deflater.BEST_SPEED, true);
    final byte[] chunk = new byte[16 * 1024];
    private Bytes raw = new Bytes(4096);
    private Bytes out = new Bytes(8192);
    private MessagePacker packer;

    MessagePacker packer() {
      raw.reset();
      if (packer == null) {
        packer = MessagePack.newDefaultPacker(raw);
      }
      return packer;
    }

    /** The packed bytes so far (a view of the scratch buffer: valid until the next body). */
    Bytes packed() throws IOException {
      packer.flush();
      return raw;
    }

    Bytes out() {
      out.reset();
      return out;
    }

    /** After a body; {@code completed} false when it failed half-way (the packer may hold some of its bytes). */
    void release(boolean completed) {
      if (!completed || raw.capacity() > KEEP_BYTES) {
        raw = new Bytes(4096);
        packer = null;
      }
      if (out.capacity() > KEEP_BYTES) {
        out = new Bytes(8192);
      }
    }
  }

  /** A ByteArrayOutputStream whose buffer can be read in place. */
  private static final class Bytes extends ByteArrayOutputStream {
    Bytes(int size) {
      super(size);
    }

    byte[] array() {
      return buf;
    }

    int capacity() {
      return buf.length;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
  /** RFC 1952 member header: magic, deflate, no flags, no time, no extra flags, unknown OS. */
  private static final byte[] GZIP_HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};
  /** The largest stored deflate block (RFC 1951 3.2.4: LEN is 16 bits). */
  private static final int STORED_MAX = 65_535;

  /**
   * One gzip member of {@code deflated} (compressed at the fastest level: a few hundred bytes of fields deflate
   * about as well as at the default level, in two thirds of the time) followed by {@code stored} (may be null) in
   * stored blocks, written here: the deflater's output ends on a byte boundary after a sync flush, and stored blocks
   * are plain framing around the bytes (RFC 1951 3.2.4), so the image is copied once instead of through zlib.
   */
  private static byte[] gzip(Scratch scratch, Bytes deflated, byte[] stored) {
    Deflater d = scratch.deflater;
    d.reset();
    byte[] chunk = scratch.chunk;
    byte[] in = deflated.array();
    int inLength = deflated.size();
    CRC32 crc = new CRC32();
    crc.update(in, 0, inLength);
    int storedLength = stored == null ? 0 : stored.length;
    Bytes out = scratch.out();
    out.write(GZIP_HEADER, 0, GZIP_HEADER.length);
    d.setInput(in, 0, inLength);
    if (stored == null) {
      d.finish();
      while (!d.finished()) {
        out.write(chunk, 0, d.deflate(chunk));
      }
    } else {
      // A sync flush ends the deflated part with an empty stored block: what follows starts on a byte boundary.
      int n;
      do {
        n = d.deflate(chunk, 0, chunk.length, Deflater.SYNC_FLUSH);
        out.write(chunk, 0, n);
      } while (n == chunk.length);
      crc.update(stored);
      int offset = 0;
      do {
        int length = Math.min(STORED_MAX, storedLength - offset);
        boolean last = offset + length == storedLength;
        out.write(last ? 1 : 0); // BFINAL, BTYPE 00 (stored), then the padding to the byte boundary
        out.write(length & 0xff);
        out.write(length >>> 8);
        out.write(~length & 0xff);
        out.write((~length >>> 8) & 0xff);
        out.write(stored, offset, length);
        offset += length;
      } while (offset < storedLength);
    }
    long c = crc.getValue();
    long size = (long) inLength + storedLength;
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
