package io.osprey.imaging;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.zip.CRC32;

/**
 * Validates uploaded JPEG, PNG and TIFF files by walking their container structure, without decoding
 * any pixel data.
 *
 * <p>The point is to reject broken uploads at the door with a precise reason, instead of letting them
 * fail later deep inside the inference pipeline. It is deliberately not a decoder: a file that passes
 * has a sound structure and plausible dimensions, but its compressed pixel data is not verified
 * (except for PNG, whose CRCs cover everything).
 *
 * <p>Blocking (it reads the file) and stateless, so it is safe to call from any number of worker
 * threads at once. Files are streamed through a small buffer, so memory use does not grow with the
 * file size.
 */
public final class ImageInspector {

  /** Error code for files whose name or content is not one of the accepted formats. */
  public static final String INVALID_FORMAT = "INVALID_FORMAT";
  /** Error code for files of an accepted format whose structure is broken. */
  public static final String CORRUPTED_FILE = "CORRUPTED_FILE";

  // 64 KiB keeps the per-call footprint small while making system calls rare enough that a
  // 50 MB scan is bound by memory bandwidth, not by syscalls.
  private static final int BUFFER_SIZE = 64 * 1024;
  // Enough for every magic number we recognise, including WebP's "RIFF....WEBP" and HEIF's "ftyp".
  private static final int HEAD_SIZE = 12;
  private static final byte[] PNG_SIGNATURE = {
      (byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  private static final int MAX_NAME_IN_MESSAGE = 120;

  private ImageInspector() {
  }

  public enum Format {
    JPEG("jpg"), PNG("png"), TIFF("tiff");

    private final String extension;

    Format(String extension) {
      this.extension = extension;
    }

    /** The canonical file extension, without the dot. */
    public String extension() {
      return extension;
    }
  }

  /**
   * Outcome of an inspection. When {@link #ok()}, {@code format}, {@code width} and {@code height}
   * describe the image. Otherwise {@code errorCode} is {@link #INVALID_FORMAT} or
   * {@link #CORRUPTED_FILE}; {@code format} is the format the file claimed to be for corrupted files
   * and null for invalid ones, and the dimensions are 0.
   */
  public record Result(Format format, int width, int height, String errorCode, String errorMessage) {
    public boolean ok() {
      return errorCode == null;
    }
  }

  /** Format named by a file name's extension (.jpg/.jpeg/.png/.tif/.tiff, case-insensitive), or null. */
  public static Format formatFromFileName(String fileName) {
    if (fileName == null) {
      return null;
    }
    return switch (extensionOf(fileName)) {
      case "jpg", "jpeg" -> Format.JPEG;
      case "png" -> Format.PNG;
      case "tif", "tiff" -> Format.TIFF;
      default -> null;
    };
  }

  /** Format from the first bytes (magic), or null when it is none of the three. */
  public static Format formatFromMagic(byte[] head, int length) {
    if (head == null) {
      return null;
    }
    int n = Math.min(Math.max(length, 0), head.length);
    if (n >= 3 && u8(head, 0) == 0xFF && u8(head, 1) == 0xD8 && u8(head, 2) == 0xFF) {
      return Format.JPEG;
    }
    if (n >= PNG_SIGNATURE.length && startsWith(head, n, PNG_SIGNATURE)) {
      return Format.PNG;
    }
    if (n >= 4 && (startsWith(head, n, new byte[] {'I', 'I', 42, 0})
        || startsWith(head, n, new byte[] {'M', 'M', 0, 42}))) {
      return Format.TIFF;
    }
    return null;
  }

  /**
   * Inspect a file on disk. Never throws for bad content: returns a Result with an error code
   * instead. Throws IOException only for real I/O failures of reading.
   *
   * @param file where the upload was stored
   * @param fileName the name the client gave the file; only its extension matters
   */
  public static Result inspect(Path file, String fileName) throws IOException {
    String shownName = displayName(fileName);
    Format named = formatFromFileName(fileName);
    if (named == null) {
      String ext = fileName == null ? "" : extensionOf(fileName);
      String what = ext.isEmpty() ? "has no extension" : "has extension ." + ext;
      return invalid("Only JPEG, PNG, TIFF allowed: " + shownName + " " + what);
    }
    String namedExt = "." + extensionOf(fileName);

    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      // One snapshot of the size: every bounds check below is against it, so a file that is
      // still being appended to is judged consistently as the prefix we saw.
      long size = channel.size();
      if (size == 0) {
        return corrupted(named, shownName, "the file is empty");
      }
      byte[] head = new byte[HEAD_SIZE];
      int headLength = readAtMost(channel, 0, head);
      Format actual = formatFromMagic(head, headLength);
      if (actual == null) {
        if (isPrefixOfMagic(named, head, headLength)) {
          // Too short to even hold the magic, but what is there matches: that is truncation,
          // not a wrong format.
          return corrupted(named, shownName, "the file is only " + size + " bytes long");
        }
        if (isBigTiff(head, headLength)) {
          return invalid("BigTIFF is not supported: " + shownName
              + " is a BigTIFF file; only classic TIFF, JPEG and PNG are allowed");
        }
        String known = describeOtherFormat(head, headLength);
        return invalid(known != null
            ? shownName + " is named " + namedExt + " but contains " + known + " data"
            : shownName + " is named " + namedExt + " but its content is not JPEG, PNG or TIFF"
                + " (first bytes: " + hex(head, Math.min(headLength, 8)) + ")");
      }
      if (actual != named) {
        return invalid(shownName + " is named " + namedExt + " but contains " + actual + " data");
      }
      try {
        long dims = switch (actual) {
          case JPEG -> inspectJpeg(new Reader(channel, size, 0));
          case PNG -> inspectPng(new Reader(channel, size, 0));
          case TIFF -> inspectTiff(channel, size);
        };
        return new Result(actual, (int) (dims >>> 32), (int) dims, null, null);
      } catch (Corrupt e) {
        return corrupted(actual, shownName, e.getMessage());
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // JPEG

  /** Returns width in the high and height in the low 32 bits. */
  private static long inspectJpeg(Reader in) throws IOException, Corrupt {
    in.skip(2, "SOI");
    int width = 0;
    int height = 0;
    boolean sawSof = false;
    boolean sawScan = false;
    int marker = nextMarker(in);
    while (true) {
      if (marker == 0xD9) {
        if (!sawSof) {
          throw new Corrupt("JPEG has no frame header (SOF marker)");
        }
        if (!sawScan) {
          throw new Corrupt("JPEG has no image data (SOS marker)");
        }
        return pack(width, height);
      }
      if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
        // RSTn and TEM carry no length field.
        marker = nextMarker(in);
        continue;
      }
      if (marker == 0xD8) {
        throw new Corrupt("JPEG has a second SOI marker at offset " + (in.position() - 2));
      }
      long segmentStart = in.position() - 2;
      int length = in.readU16("JPEG segment length");
      if (length < 2) {
        throw new Corrupt(String.format(Locale.ROOT,
            "JPEG segment 0xFF%02X at offset %d has invalid length %d", marker, segmentStart, length));
      }
      if (length - 2 > in.remaining()) {
        throw new Corrupt(String.format(Locale.ROOT,
            "JPEG segment 0xFF%02X at offset %d (length %d) runs past the end of the file",
            marker, segmentStart, length));
      }
      if (isSof(marker)) {
        if (length < 8) {
          throw new Corrupt("JPEG frame header is too short (length " + length + ")");
        }
        in.skip(1, "SOF precision");
        int h = in.readU16("SOF height");
        int w = in.readU16("SOF width");
        in.skip(length - 7, "SOF components");
        // Height 0 means "defined later by a DNL marker": legal, but practically unsupported by
        // decoders, so we refuse it rather than guess.
        if (w == 0 || h == 0) {
          throw new Corrupt("JPEG frame header declares a " + w + "x" + h + " image");
        }
        // Hierarchical JPEGs contain one SOF per frame; the first one describes the image size.
        if (!sawSof) {
          width = w;
          height = h;
          sawSof = true;
        }
        marker = nextMarker(in);
      } else if (marker == 0xDA) {
        if (!sawSof) {
          throw new Corrupt("JPEG scan (SOS) starts before any frame header (SOF)");
        }
        sawScan = true;
        in.skip(length - 2, "SOS header");
        marker = skipEntropyCodedData(in);
      } else {
        in.skip(length - 2, "JPEG segment");
        marker = nextMarker(in);
      }
    }
  }

  /**
   * Reads the next marker code. Bytes before the 0xFF are tolerated, as libjpeg does (it only
   * warns about "extraneous bytes before marker"), so that photos every decoder opens are not
   * rejected here.
   */
  private static int nextMarker(Reader in) throws IOException, Corrupt {
    while (true) {
      int b = in.readU8("JPEG marker");
      if (b != 0xFF) {
        continue;
      }
      int m;
      do {
        m = in.readU8("JPEG marker");
      } while (m == 0xFF);
      if (m != 0x00) {
        return m;
      }
    }
  }

  /** Skips a scan's entropy-coded data and returns the marker that ends it. */
  private static int skipEntropyCodedData(Reader in) throws IOException, Corrupt {
    while (true) {
      in.skipPastNextFF();
      int m;
      do {
        m = in.readU8("JPEG scan data");
      } while (m == 0xFF);
      // 0xFF00 is a stuffed data byte and RSTn markers live inside the scan; anything else ends it.
      if (m != 0x00 && (m < 0xD0 || m > 0xD7)) {
        return m;
      }
    }
  }

  private static boolean isSof(int marker) {
    // C4 (DHT), C8 (JPG, reserved) and CC (DAC) sit in the same range but are not frame headers.
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
  }

  // ---------------------------------------------------------------------------------------------
  // PNG

  private static long inspectPng(Reader in) throws IOException, Corrupt {
    in.skip(PNG_SIGNATURE.length, "PNG signature");
    CRC32 crc = new CRC32();
    byte[] type = new byte[4];
    int width = 0;
    int height = 0;
    boolean first = true;
    boolean sawIdat = false;
    while (true) {
      if (in.remaining() == 0) {
        throw new Corrupt(first ? "PNG has no chunks" : "PNG ends without an IEND chunk");
      }
      long chunkStart = in.position();
      long length = in.readU32("PNG chunk length");
      for (int i = 0; i < 4; i++) {
        type[i] = (byte) in.readU8("PNG chunk type");
      }
      String typeName = chunkTypeName(type);
      if (typeName == null) {
        throw new Corrupt("PNG chunk at offset " + chunkStart + " has an invalid type (bytes "
            + hex(type, 4) + ")");
      }
      if (length > Integer.MAX_VALUE) {
        throw new Corrupt("PNG chunk " + typeName + " at offset " + chunkStart
            + " declares length " + length + ", above the PNG maximum of 2^31-1");
      }
      if (length + 4 > in.remaining()) {
        throw new Corrupt("PNG chunk " + typeName + " at offset " + chunkStart + " (length "
            + length + ") runs past the end of the file");
      }
      if (first && !typeName.equals("IHDR")) {
        throw new Corrupt("PNG does not start with an IHDR chunk (found " + typeName + ")");
      }
      crc.reset();
      crc.update(type, 0, 4);
      if (typeName.equals("IHDR")) {
        if (!first) {
          throw new Corrupt("PNG has a second IHDR chunk at offset " + chunkStart);
        }
        if (length != 13) {
          throw new Corrupt("PNG IHDR chunk has length " + length + " instead of 13");
        }
        byte[] ihdr = new byte[13];
        for (int i = 0; i < 13; i++) {
          ihdr[i] = (byte) in.readU8("PNG IHDR");
        }
        crc.update(ihdr, 0, 13);
        long w = u32(ihdr, 0);
        long h = u32(ihdr, 4);
        if (w == 0 || h == 0 || w > Integer.MAX_VALUE || h > Integer.MAX_VALUE) {
          throw new Corrupt("PNG IHDR declares an invalid size " + w + "x" + h);
        }
        checkPngHeaderFields(ihdr);
        width = (int) w;
        height = (int) h;
      } else {
        in.updateChecksum(crc, length);
      }
      long stored = in.readU32("PNG chunk CRC");
      if (stored != crc.getValue()) {
        throw new Corrupt(String.format(Locale.ROOT,
            "PNG chunk %s at offset %d fails its CRC check (stored %08X, computed %08X)",
            typeName, chunkStart, stored, crc.getValue()));
      }
      first = false;
      switch (typeName) {
        case "IDAT" -> sawIdat = true;
        case "IEND" -> {
          if (!sawIdat) {
            throw new Corrupt("PNG has no IDAT chunk (no image data)");
          }
          // Trailing bytes after IEND are ignored, as by libpng.
          return pack(width, height);
        }
        default -> {
          // Ancillary and other critical chunks (PLTE, ...) are only checksummed.
        }
      }
    }
  }

  private static void checkPngHeaderFields(byte[] ihdr) throws Corrupt {
    int bitDepth = u8(ihdr, 8);
    int colorType = u8(ihdr, 9);
    boolean valid = switch (colorType) {
      case 0 -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8 || bitDepth == 16;
      case 3 -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8;
      case 2, 4, 6 -> bitDepth == 8 || bitDepth == 16;
      default -> false;
    };
    if (!valid) {
      throw new Corrupt("PNG IHDR has an invalid colour type " + colorType + " / bit depth "
          + bitDepth + " combination");
    }
    if (ihdr[10] != 0 || ihdr[11] != 0 || (ihdr[12] != 0 && ihdr[12] != 1)) {
      throw new Corrupt("PNG IHDR has an unknown compression, filter or interlace method");
    }
  }

  /** The chunk type as text, or null unless it is four ASCII letters as the PNG spec requires. */
  private static String chunkTypeName(byte[] type) {
    for (byte b : type) {
      if (!((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'))) {
        return null;
      }
    }
    return new String(type, 0, 4, java.nio.charset.StandardCharsets.US_ASCII);
  }

  // ---------------------------------------------------------------------------------------------
  // TIFF

  private static final int TAG_IMAGE_WIDTH = 256;
  private static final int TAG_IMAGE_LENGTH = 257;
  private static final int TAG_STRIP_OFFSETS = 273;
  private static final int TAG_STRIP_BYTE_COUNTS = 279;
  private static final int TAG_TILE_OFFSETS = 324;
  private static final int TAG_TILE_BYTE_COUNTS = 325;
  private static final int TYPE_SHORT = 3;
  private static final int TYPE_LONG = 4;

  /** One 12-byte IFD entry; {@code valuePos} is the file offset of its 4-byte value field. */
  private record IfdEntry(int tag, int type, long count, long valuePos, long rawValue) {
  }

  private static long inspectTiff(FileChannel channel, long size) throws IOException, Corrupt {
    if (size < 8) {
      throw new Corrupt("TIFF header is truncated (" + size + " bytes)");
    }
    ByteBuffer header = readExactly(channel, 0, 8, "TIFF header");
    ByteOrder order = header.get(0) == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN;
    header.order(order);
    long ifd = Integer.toUnsignedLong(header.getInt(4));
    if (ifd < 8 || ifd + 2 > size) {
      throw new Corrupt("TIFF first IFD offset " + ifd + " is outside the file (size " + size + ")");
    }
    int entryCount = Short.toUnsignedInt(readExactly(channel, ifd, 2, "TIFF IFD").order(order).getShort(0));
    if (entryCount == 0) {
      throw new Corrupt("TIFF first IFD has no entries");
    }
    long entriesPos = ifd + 2;
    long entriesLength = 12L * entryCount;
    if (entriesPos + entriesLength > size) {
      throw new Corrupt("TIFF first IFD (" + entryCount + " entries at offset " + ifd
          + ") runs past the end of the file");
    }
    ByteBuffer entries = readExactly(channel, entriesPos, (int) entriesLength, "TIFF IFD").order(order);

    IfdEntry width = null;
    IfdEntry height = null;
    IfdEntry stripOffsets = null;
    IfdEntry stripByteCounts = null;
    IfdEntry tileOffsets = null;
    IfdEntry tileByteCounts = null;
    for (int i = 0; i < entryCount; i++) {
      int base = i * 12;
      int tag = Short.toUnsignedInt(entries.getShort(base));
      int type = Short.toUnsignedInt(entries.getShort(base + 2));
      long count = Integer.toUnsignedLong(entries.getInt(base + 4));
      // A SHORT that fits inline is left-justified in the value field for both byte orders.
      long raw = type == TYPE_SHORT
          ? Short.toUnsignedInt(entries.getShort(base + 8))
          : Integer.toUnsignedLong(entries.getInt(base + 8));
      IfdEntry entry = new IfdEntry(tag, type, count, entriesPos + base + 8, raw);
      // Tags must be unique; if a writer repeats one, the first occurrence wins, as in libtiff.
      switch (tag) {
        case TAG_IMAGE_WIDTH -> width = width == null ? entry : width;
        case TAG_IMAGE_LENGTH -> height = height == null ? entry : height;
        case TAG_STRIP_OFFSETS -> stripOffsets = stripOffsets == null ? entry : stripOffsets;
        case TAG_STRIP_BYTE_COUNTS -> stripByteCounts = stripByteCounts == null ? entry : stripByteCounts;
        case TAG_TILE_OFFSETS -> tileOffsets = tileOffsets == null ? entry : tileOffsets;
        case TAG_TILE_BYTE_COUNTS -> tileByteCounts = tileByteCounts == null ? entry : tileByteCounts;
        default -> {
        }
      }
    }

    int w = tiffDimension(width, "ImageWidth");
    int h = tiffDimension(height, "ImageLength");
    if (tileOffsets != null || tileByteCounts != null) {
      checkTiffDataBlocks(channel, size, order, tileOffsets, tileByteCounts, "TileOffsets",
          "TileByteCounts", "tile");
    } else if (stripOffsets != null || stripByteCounts != null) {
      checkTiffDataBlocks(channel, size, order, stripOffsets, stripByteCounts, "StripOffsets",
          "StripByteCounts", "strip");
    } else {
      throw new Corrupt("TIFF has neither strips nor tiles (no image data)");
    }
    return pack(w, h);
  }

  private static int tiffDimension(IfdEntry entry, String name) throws Corrupt {
    if (entry == null) {
      throw new Corrupt("TIFF has no " + name + " tag");
    }
    if (entry.type() != TYPE_SHORT && entry.type() != TYPE_LONG) {
      throw new Corrupt("TIFF " + name + " has unsupported type " + entry.type());
    }
    if (entry.count() < 1) {
      throw new Corrupt("TIFF " + name + " has no value");
    }
    if (entry.rawValue() == 0 || entry.rawValue() > Integer.MAX_VALUE) {
      throw new Corrupt("TIFF " + name + " is " + entry.rawValue());
    }
    return (int) entry.rawValue();
  }

  /**
   * Checks that every strip or tile lies inside the file. The offset and byte-count arrays can hold
   * millions of entries for big tiled images, so both are streamed side by side in chunks rather
   * than loaded.
   */
  private static void checkTiffDataBlocks(FileChannel channel, long size, ByteOrder order,
      IfdEntry offsets, IfdEntry byteCounts, String offsetsName, String countsName, String unit)
      throws IOException, Corrupt {
    if (offsets == null) {
      throw new Corrupt("TIFF has " + countsName + " but no " + offsetsName);
    }
    if (byteCounts == null) {
      throw new Corrupt("TIFF has " + offsetsName + " but no " + countsName);
    }
    if (offsets.count() == 0) {
      throw new Corrupt("TIFF " + offsetsName + " is empty");
    }
    if (offsets.count() != byteCounts.count()) {
      throw new Corrupt("TIFF has " + offsets.count() + " " + offsetsName + " but "
          + byteCounts.count() + " " + countsName);
    }
    TiffArray offsetValues = new TiffArray(channel, size, order, offsets, offsetsName);
    TiffArray countValues = new TiffArray(channel, size, order, byteCounts, countsName);
    for (long i = 0; i < offsets.count(); i++) {
      long offset = offsetValues.next();
      long count = countValues.next();
      if (offset + count > size) {
        throw new Corrupt("TIFF " + unit + " " + i + " (offset " + offset + ", " + count
            + " bytes) runs past the end of the file (size " + size + ")");
      }
    }
  }

  /** Sequential reader over a SHORT or LONG array of an IFD entry, inline or out of line. */
  private static final class TiffArray {
    private static final int CHUNK_BYTES = 16 * 1024;
    private final FileChannel channel;
    private final int elementSize;
    private final ByteBuffer chunk;
    private long nextPos;
    private long bytesLeft;

    TiffArray(FileChannel channel, long size, ByteOrder order, IfdEntry entry, String name)
        throws Corrupt {
      if (entry.type() != TYPE_SHORT && entry.type() != TYPE_LONG) {
        throw new Corrupt("TIFF " + name + " has unsupported type " + entry.type());
      }
      this.channel = channel;
      this.elementSize = entry.type() == TYPE_SHORT ? 2 : 4;
      // count is at most 2^32-1, so this cannot overflow a long.
      this.bytesLeft = entry.count() * elementSize;
      if (bytesLeft <= 4) {
        // Small arrays live in the entry's own value field, which is already known to be in the file.
        this.nextPos = entry.valuePos();
      } else {
        this.nextPos = entry.rawValue();
        if (nextPos + bytesLeft > size) {
          throw new Corrupt("TIFF " + name + " array (offset " + nextPos + ", " + entry.count()
              + " values) runs past the end of the file");
        }
      }
      this.chunk = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, bytesLeft)).order(order);
      this.chunk.limit(0);
    }

    long next() throws IOException, Corrupt {
      if (!chunk.hasRemaining()) {
        chunk.clear();
        chunk.limit((int) Math.min(chunk.capacity(), bytesLeft));
        readFully(channel, chunk, nextPos, "TIFF offset array");
        nextPos += chunk.limit();
        bytesLeft -= chunk.limit();
        chunk.flip();
      }
      return elementSize == 2
          ? Short.toUnsignedInt(chunk.getShort())
          : Integer.toUnsignedLong(chunk.getInt());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Buffered sequential reading

  /** Thrown for structural problems; it never escapes {@link #inspect}. */
  private static final class Corrupt extends Exception {
    private static final long serialVersionUID = 1L;

    Corrupt(String message) {
      // No stack trace: this is an expected outcome for bad uploads, not a programming error.
      super(message, null, false, false);
    }
  }

  /**
   * A minimal buffered reader over positional channel reads. Hand-rolled rather than a
   * BufferedInputStream because scanning JPEG entropy data one synchronized read() per byte is
   * several times slower than searching the buffer array directly, and because skips must be
   * bounds-checked against the file size to report segments that point past the end.
   */
  private static final class Reader {
    private final FileChannel channel;
    private final long size;
    private final byte[] buf = new byte[BUFFER_SIZE];
    private final ByteBuffer wrapper = ByteBuffer.wrap(buf);
    private long bufStart;
    private int pos;
    private int limit;

    Reader(FileChannel channel, long size, long start) {
      this.channel = channel;
      this.size = size;
      this.bufStart = start;
    }

    long position() {
      return bufStart + pos;
    }

    long remaining() {
      return size - position();
    }

    /** Refills the buffer from the current position; false at the end of the file. */
    private boolean fill() throws IOException {
      bufStart += pos;
      pos = 0;
      limit = 0;
      long left = size - bufStart;
      if (left <= 0) {
        return false;
      }
      wrapper.clear();
      wrapper.limit((int) Math.min(buf.length, left));
      while (wrapper.hasRemaining()) {
        if (channel.read(wrapper, bufStart + wrapper.position()) < 0) {
          break; // the file shrank under us; judge what we got
        }
      }
      limit = wrapper.position();
      return limit > 0;
    }

    int readU8(String what) throws IOException, Corrupt {
      if (pos == limit && !fill()) {
        throw new Corrupt("the file ends unexpectedly while reading " + what + " at offset "
            + position());
      }
      return buf[pos++] & 0xFF;
    }

    int readU16(String what) throws IOException, Corrupt {
      return (readU8(what) << 8) | readU8(what);
    }

    long readU32(String what) throws IOException, Corrupt {
      return ((long) readU16(what) << 16) | readU16(what);
    }

    void skip(long n, String what) throws IOException, Corrupt {
      if (n > remaining()) {
        throw new Corrupt("the file ends unexpectedly inside " + what + " at offset " + position());
      }
      long target = position() + n;
      if (target <= bufStart + limit) {
        pos = (int) (target - bufStart);
      } else {
        bufStart = target;
        pos = 0;
        limit = 0;
      }
    }

    /** Advances just past the next 0xFF byte. */
    void skipPastNextFF() throws IOException, Corrupt {
      while (true) {
        byte[] b = buf;
        for (int i = pos, end = limit; i < end; i++) {
          if (b[i] == (byte) 0xFF) {
            pos = i + 1;
            return;
          }
        }
        pos = limit;
        if (!fill()) {
          throw new Corrupt("JPEG data ends before the EOI marker (truncated file)");
        }
      }
    }

    /** Feeds the next {@code n} bytes to the checksum; the caller has checked they exist. */
    void updateChecksum(CRC32 crc, long n) throws IOException, Corrupt {
      while (n > 0) {
        if (pos == limit && !fill()) {
          throw new Corrupt("the file ends unexpectedly at offset " + position());
        }
        int take = (int) Math.min(n, limit - pos);
        crc.update(buf, pos, take);
        pos += take;
        n -= take;
      }
    }
  }

  private static int readAtMost(FileChannel channel, long position, byte[] into) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(into);
    while (bb.hasRemaining()) {
      if (channel.read(bb, position + bb.position()) < 0) {
        break;
      }
    }
    return bb.position();
  }

  private static ByteBuffer readExactly(FileChannel channel, long position, int length, String what)
      throws IOException, Corrupt {
    ByteBuffer bb = ByteBuffer.allocate(length);
    readFully(channel, bb, position, what);
    bb.flip();
    return bb;
  }

  private static void readFully(FileChannel channel, ByteBuffer bb, long position, String what)
      throws IOException, Corrupt {
    long start = position - bb.position();
    while (bb.hasRemaining()) {
      if (channel.read(bb, start + bb.position()) < 0) {
        throw new Corrupt("the file ends unexpectedly while reading " + what + " at offset "
            + (start + bb.position()));
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private static Result invalid(String message) {
    return new Result(null, 0, 0, INVALID_FORMAT, message);
  }

  private static Result corrupted(Format format, String shownName, String reason) {
    return new Result(format, 0, 0, CORRUPTED_FILE,
        "Unable to read image file " + shownName + ": " + reason);
  }

  private static long pack(int width, int height) {
    return ((long) width << 32) | (height & 0xFFFFFFFFL);
  }

  /** Lower-cased extension without the dot, or "" when the (base) name has none. */
  private static String extensionOf(String fileName) {
    int slash = Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\'));
    int dot = fileName.lastIndexOf('.');
    if (dot <= slash || dot == fileName.length() - 1) {
      return "";
    }
    return fileName.substring(dot + 1).toLowerCase(Locale.ROOT);
  }

  /** The client-supplied name, quoted, shortened and stripped of control characters for messages. */
  private static String displayName(String fileName) {
    if (fileName == null) {
      return "(unnamed file)";
    }
    StringBuilder sb = new StringBuilder("'");
    int n = Math.min(fileName.length(), MAX_NAME_IN_MESSAGE);
    for (int i = 0; i < n; i++) {
      char c = fileName.charAt(i);
      sb.append(Character.isISOControl(c) ? '?' : c);
    }
    if (fileName.length() > MAX_NAME_IN_MESSAGE) {
      sb.append("...");
    }
    return sb.append('\'').toString();
  }

  private static boolean isPrefixOfMagic(Format format, byte[] head, int n) {
    byte[][] magics = switch (format) {
      case JPEG -> new byte[][] {{(byte) 0xFF, (byte) 0xD8, (byte) 0xFF}};
      case PNG -> new byte[][] {PNG_SIGNATURE};
      case TIFF -> new byte[][] {{'I', 'I', 42, 0}, {'M', 'M', 0, 42}};
    };
    for (byte[] magic : magics) {
      if (n < magic.length && startsWith(magic, magic.length, java.util.Arrays.copyOf(head, n))) {
        return true;
      }
    }
    return false;
  }

  private static boolean isBigTiff(byte[] head, int n) {
    return n >= 4 && (startsWith(head, n, new byte[] {'I', 'I', 43, 0})
        || startsWith(head, n, new byte[] {'M', 'M', 0, 43}));
  }

  /** Names a few formats users commonly upload by mistake, so the message says what they sent. */
  private static String describeOtherFormat(byte[] head, int n) {
    if (startsWith(head, n, new byte[] {'G', 'I', 'F', '8'})) {
      return "GIF";
    }
    if (n >= 12 && startsWith(head, n, new byte[] {'R', 'I', 'F', 'F'})
        && head[8] == 'W' && head[9] == 'E' && head[10] == 'B' && head[11] == 'P') {
      return "WebP";
    }
    if (n >= 12 && head[4] == 'f' && head[5] == 't' && head[6] == 'y' && head[7] == 'p') {
      return "HEIF/AVIF";
    }
    if (startsWith(head, n, new byte[] {'B', 'M'})) {
      return "BMP";
    }
    if (startsWith(head, n, new byte[] {'%', 'P', 'D', 'F'})) {
      return "PDF";
    }
    if (startsWith(head, n, new byte[] {'P', 'K', 3, 4})) {
      return "ZIP";
    }
    return null;
  }

  private static boolean startsWith(byte[] data, int n, byte[] prefix) {
    if (n < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (data[i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static int u8(byte[] b, int i) {
    return b[i] & 0xFF;
  }

  private static long u32(byte[] b, int i) {
    return ((long) u8(b, i) << 24) | (u8(b, i + 1) << 16) | (u8(b, i + 2) << 8) | u8(b, i + 3);
  }

  private static String hex(byte[] b, int n) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        sb.append(' ');
      }
      sb.append(String.format(Locale.ROOT, "%02X", b[i] & 0xFF));
    }
    return sb.toString();
  }
}
