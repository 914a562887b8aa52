package io.osprey.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Hand-made image files whose headers are structurally valid (they pass ImageInspector) but which declare far more
 * pixels than their few bytes hold (decompression bombs), or whose compressed pixel data cannot be decoded.
 */
public final class ImageBombs {
  private ImageBombs() {
  }

  /** A PNG whose IHDR declares {@code width x height} RGB, every CRC valid, with one tiny IDAT chunk. */
  public static byte[] png(int width, int height) {
    return png(width, height, deflate(new byte[1024], 1024));
  }

  /**
   * A PNG of a small real size whose IDAT holds only the first half of the zlib stream of its pixels (the CRCs are
   * valid): the header and every chunk check pass, but decoding runs out of image data.
   */
  public static byte[] undecodablePng(int width, int height) {
    byte[] raw = new byte[(width * 3 + 1) * height];
    java.util.Random random = new java.util.Random(7);
    for (int y = 0; y < height; y++) {
      int row = y * (width * 3 + 1);
      raw[row] = 0; // filter type None
      for (int i = 1; i <= width * 3; i++) {
        raw[row + i] = (byte) random.nextInt(256);
      }
    }
    byte[] full = deflate(raw, raw.length);
    byte[] half = java.util.Arrays.copyOf(full, full.length / 2);
    return png(width, height, half);
  }

  /** The same PNG with a tEXt chunk, so that each call gives different bytes (a different content id). */
  public static byte[] withText(byte[] png, String text) {
    // Inserted right after IHDR (8-byte signature + 25-byte IHDR chunk).
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(png, 0, 33);
    chunk(out, "tEXt", ("Comment\0" + text).getBytes(StandardCharsets.ISO_8859_1));
    out.write(png, 33, png.length - 33);
    return out.toByteArray();
  }

  /** A real JPEG whose frame header (SOF0) is rewritten to declare {@code width x height}. */
  public static byte[] jpeg(int width, int height) throws IOException {
    byte[] jpeg = Fixtures.image("jpg", 64, 64);
    for (int i = 2; i + 8 < jpeg.length; i++) {
      if ((jpeg[i] & 0xFF) == 0xFF && (jpeg[i + 1] & 0xFF) == 0xC0) {
        // FF C0, length (2), precision (1), height (2), width (2)
        jpeg[i + 5] = (byte) (height >>> 8);
        jpeg[i + 6] = (byte) height;
        jpeg[i + 7] = (byte) (width >>> 8);
        jpeg[i + 8] = (byte) width;
        return jpeg;
      }
    }
    throw new IllegalStateException("no SOF0 in the generated JPEG");
  }

  /** A little-endian classic TIFF declaring {@code width x height} 8-bit grey in one 16-byte strip. */
  public static byte[] tiff(long width, long height) {
    int entries = 8;
    int ifd = 8;
    int data = ifd + 2 + entries * 12 + 4;
    ByteBuffer b = ByteBuffer.allocate(data + 16).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(ifd);
    b.putShort((short) entries);
    entry(b, 256, 4, 1, (int) width);        // ImageWidth, LONG
    entry(b, 257, 4, 1, (int) height);       // ImageLength, LONG
    entry(b, 258, 3, 1, 8);                  // BitsPerSample
    entry(b, 259, 3, 1, 1);                  // Compression: none
    entry(b, 262, 3, 1, 1);                  // PhotometricInterpretation: black is zero
    entry(b, 273, 4, 1, data);               // StripOffsets
    entry(b, 278, 4, 1, (int) height);       // RowsPerStrip
    entry(b, 279, 4, 1, 16);                 // StripByteCounts
    b.putInt(0);                             // no next IFD
    return b.array();
  }

  private static void entry(ByteBuffer b, int tag, int type, int count, int value) {
    b.putShort((short) tag).putShort((short) type).putInt(count);
    if (type == 3) {
      b.putShort((short) value).putShort((short) 0);
    } else {
      b.putInt(value);
    }
  }

  private static byte[] png(int width, int height, byte[] idat) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    ByteBuffer ihdr = ByteBuffer.allocate(13);
    ihdr.putInt(width).putInt(height).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    chunk(out, "IHDR", ihdr.array());
    chunk(out, "IDAT", idat);
    chunk(out, "IEND", new byte[0]);
    return out.toByteArray();
  }

  private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
    out.writeBytes(t);
    out.writeBytes(data);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }

  private static byte[] deflate(byte[] raw, int length) {
    Deflater d = new Deflater(9);
    d.setInput(raw, 0, length);
    d.finish();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    while (!d.finished()) {
      out.write(buf, 0, d.deflate(buf));
    }
    d.end();
    return out.toByteArray();
  }
}
