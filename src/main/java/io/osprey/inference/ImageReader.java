package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.opencv.opencv_core.Mat;

/**
 * Decodes image files to 8-bit BGR, as {@code imread(file, IMREAD_COLOR)} does (EXIF orientation applied), into
 * native buffers reused from image to image.
 *
 * <p>Why: a fresh buffer per image costs CPU beside the decode itself. The kernel maps and zeroes every page of a
 * new allocation when it is first written, and glibc gives allocations of 32 MB and more (a 12 MP photo is 36 MB
 * decoded) back to the kernel as soon as they are freed, so every image pays for its pages again: a 4000x3000 JPEG
 * took 48.6 ms of CPU decoded into a new Mat and 27.0 ms into a kept buffer; smaller images pay the same whenever
 * the allocator happens to have returned the memory (docs/benchmarks.md, "Per-tile CPU work"). The file is read
 * into a reused direct buffer and decoded from memory ({@code imdecode}); its size is read from the JPEG or PNG
 * header so that the pixels land in the reused buffer. A header that cannot be read here, or a size it misstates,
 * only costs the reuse: OpenCV then allocates a buffer of the right size itself.
 *
 * <p>The buffers grow to the largest image seen and are kept up to {@link #KEEP_BYTES}; {@link #trim} frees larger
 * ones once the caller is done with the image, so that an idle worker does not hold the memory of its largest
 * photo. One instance per thread. The Mat {@link #read} returns belongs to the reader: it stays valid until the next
 * read, trim or close, and the caller must not close it.
 */
public final class ImageReader implements AutoCloseable {
  /** Decoded pixels kept between images: 64 MiB, a 21 MP photo. */
  static final long KEEP_BYTES = 64L << 20;
  /** Encoded bytes kept between images. */
  static final int KEEP_FILE_BYTES = 16 << 20;

  private final long keepBytes;
  private ByteBuffer encoded = ByteBuffer.allocateDirect(1 << 20);
  private Mat pixels;
  private long pixelBytes;
  private Mat image = new Mat();

  public ImageReader() {
    this(KEEP_BYTES);
  }

  /** With another limit on the pixels kept between images (tests). */
  ImageReader(long keepBytes) {
    this.keepBytes = keepBytes;
  }

  /**
   * The file's pixels, 8-bit BGR; an empty Mat when OpenCV cannot decode it.
   *
   * @throws IOException when the file cannot be read
   */
  public Mat read(Path file) throws IOException {
    image.close();
    image = new Mat();
    int length = load(file);
    if (length == 0) {
      return image;
    }
    long size = declaredSize(encoded, length);
    if (size >= 0) {
      int width = (int) (size >>> 32);
      int height = (int) size;
      long bytes = 3L * width * height;
      if (width > 0 && height > 0 && bytes <= Integer.MAX_VALUE) {
        reserve(bytes);
        image.close();
        // A header over the kept buffer: imdecode's create() keeps it when the size matches what it decodes.
        image = new Mat(height, width, CV_8UC3, pixels.data());
      }
    }
    try (BytePointer bytes = new BytePointer(encoded.duplicate().position(0).limit(length));
         Mat source = new Mat(1, length, CV_8UC1, bytes);
         Mat decoded = imdecode(source, IMREAD_COLOR, image)) {
      if (decoded.empty()) {
        // A header that failed leaves the Mat over the kept buffer as it was: not an image.
        image.release();
      }
    }
    return image;
  }

  /** Frees the buffers when they exceed what is worth keeping between images; invalidates the last read. */
  public void trim() {
    if (pixels != null && pixelBytes > keepBytes) {
      image.close();
      image = new Mat();
      pixels.close();
      pixels = null;
      pixelBytes = 0;
    }
    if (encoded.capacity() > KEEP_FILE_BYTES) {
      encoded = ByteBuffer.allocateDirect(1 << 20);
    }
  }

  /** Bytes of decoded pixels held for the next image. */
  long keptBytes() {
    return pixels == null ? 0 : pixelBytes;
  }

  private void reserve(long bytes) {
    if (pixels != null && pixelBytes >= bytes) {
      return;
    }
    if (pixels != null) {
      pixels.close();
    }
    pixels = new Mat(1, (int) bytes, CV_8UC1);
    pixelBytes = bytes;
  }

  /** Reads the whole file into {@link #encoded}; answers its length. */
  private int load(Path file) throws IOException {
    try (FileChannel channel = FileChannel.open(file)) {
      long size = channel.size();
      if (size > Integer.MAX_VALUE - 8) {
        throw new IOException("image file " + file + " is larger than 2 GB");
      }
      if (encoded.capacity() < size) {
        encoded = ByteBuffer.allocateDirect((int) size);
      }
      encoded.clear().limit((int) size);
      while (encoded.hasRemaining() && channel.read(encoded) >= 0) {
        // read until the end: a file that shrank meanwhile ends early
      }
      return encoded.position();
    }
  }

  /**
   * Width and height ({@code width << 32 | height}) that a JPEG's frame header or a PNG's IHDR declares, before any
   * EXIF rotation (the size OpenCV decodes to); -1 when neither is found in the first {@code length} bytes.
   */
  static long declaredSize(ByteBuffer data, int length) {
    if (length >= 24 && u8(data, 0) == 0x89 && u8(data, 1) == 'P' && u8(data, 2) == 'N' && u8(data, 3) == 'G'
        && u8(data, 12) == 'I' && u8(data, 13) == 'H' && u8(data, 14) == 'D' && u8(data, 15) == 'R') {
      long width = u32(data, 16);
      long height = u32(data, 20);
      return width <= Integer.MAX_VALUE && height <= Integer.MAX_VALUE ? width << 32 | height : -1;
    }
    if (length < 4 || u8(data, 0) != 0xFF || u8(data, 1) != 0xD8) {
      return -1;
    }
    int at = 2;
    while (at + 4 <= length) {
      if (u8(data, at) != 0xFF) {
        return -1;
      }
      int marker = u8(data, at + 1);
      if (marker == 0xFF) {
        at++; // fill byte
        continue;
      }
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
        at += 2; // no length
        continue;
      }
      if (marker == 0xDA || marker == 0xD9) {
        return -1; // scan or end before any frame header
      }
      int segment = u16(data, at + 2);
      boolean frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (frame) {
        if (at + 9 > length) {
          return -1;
        }
        long height = u16(data, at + 5);
        long width = u16(data, at + 7);
        return width << 32 | height;
      }
      at += 2 + segment;
    }
    return -1;
  }

  private static int u8(ByteBuffer b, int i) {
    return b.get(i) & 0xFF;
  }

  private static int u16(ByteBuffer b, int i) {
    return u8(b, i) << 8 | u8(b, i + 1);
  }

  private static long u32(ByteBuffer b, int i) {
    return (long) u16(b, i) << 16 | u16(b, i + 2);
  }

  @Override
  public void close() {
    image.close();
    if (pixels != null) {
      pixels.close();
      pixels = null;
    }
  }
}
