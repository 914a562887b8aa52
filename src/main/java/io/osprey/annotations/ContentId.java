package io.osprey.annotations;

import com.dynatrace.hash4j.hashing.HashValue128;
import com.dynatrace.hash4j.hashing.Hasher128;
import com.dynatrace.hash4j.hashing.Hashing;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Ids of images and media derived from their content (RB-04): XXH3-128 over a sampled buffer, so the same bytes
 * always give the same id and hashing a 5 GB video costs three 64 KiB reads.
 *
 * <p>The sampled buffer is the length as 8 little-endian bytes, followed by the whole content when it is at most
 * 192 KiB, else by its first, middle (starting at {@code (length - 64 KiB) / 2}) and last 64 KiB. The id is the
 * 128-bit hash (seed 0) as 32 lowercase hex digits, most significant half first. docs/annotations.md repeats this
 * so other systems can compute the same id.
 */
public final class ContentId {
  static final int CHUNK = 64 * 1024;
  private static final Hasher128 HASHER = Hashing.xxh3_128();

  private ContentId() {
  }

  public static String of(byte[] content) {
    return of(content, 0, content.length);
  }

  public static String of(byte[] content, int offset, int length) {
    ByteBuffer sample = sample(length);
    if (length <= 3 * CHUNK) {
      sample.put(content, offset, length);
    } else {
      sample.put(content, offset, CHUNK);
      sample.put(content, offset + middle(length), CHUNK);
      sample.put(content, offset + length - CHUNK, CHUNK);
    }
    return hex(sample);
  }

  public static String of(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long length = ch.size();
      ByteBuffer sample = sample(length);
      if (length <= 3 * CHUNK) {
        readFully(ch, sample, 0, (int) length);
      } else {
        readFully(ch, sample, 0, CHUNK);
        readFully(ch, sample, middle(length), CHUNK);
        readFully(ch, sample, length - CHUNK, CHUNK);
      }
      return hex(sample);
    }
  }

  private static long middle(long length) {
    return (length - CHUNK) / 2;
  }

  private static int middle(int length) {
    return (length - CHUNK) / 2;
  }

  private static ByteBuffer sample(long length) {
    int body = (int) Math.min(length, 3L * CHUNK);
    ByteBuffer b = ByteBuffer.allocate(8 + body).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(length);
    return b;
  }

  private static void readFully(FileChannel ch, ByteBuffer into, long position, int count) throws IOException {
    int end = into.position() + count;
    ByteBuffer slice = into.duplicate();
    slice.limit(end);
    long pos = position;
    while (slice.hasRemaining()) {
      int n = ch.read(slice, pos);
      if (n < 0) {
        throw new IOException("file shrank while it was hashed");
      }
      pos += n;
    }
    into.position(end);
  }

  private static String hex(ByteBuffer sample) {
    HashValue128 h = HASHER.hashBytesTo128Bits(sample.array(), 0, sample.position());
    return String.format("%016x%016x", h.getMostSignificantBits(), h.getLeastSignificantBits());
  }

  /** Whether a path segment looks like an id this class makes (so ids in URLs never reach the file system raw). */
  public static boolean looksValid(String id) {
    return id != null && id.length() == 32 && id.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
}
