package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.dynatrace.hash4j.hashing.HashValue128;
import com.dynatrace.hash4j.hashing.Hashing;
import io.osprey.testing.UnitTest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RB-04: XXH3-128 over a size-independent sample, the same from bytes and from a file. */
@UnitTest
class ContentIdTest {
  @TempDir
  Path dir;

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** The documented recipe, written out independently of ContentId's own buffer handling. */
  private static String recipe(byte[] content) {
    int chunk = 64 * 1024;
    ByteBuffer sample;
    if (content.length <= 3 * chunk) {
      sample = ByteBuffer.allocate(8 + content.length).order(ByteOrder.LITTLE_ENDIAN);
      sample.putLong(content.length).put(content);
    } else {
      sample = ByteBuffer.allocate(8 + 3 * chunk).order(ByteOrder.LITTLE_ENDIAN);
      sample.putLong(content.length).put(content, 0, chunk).put(content, (content.length - chunk) / 2, chunk)
          .put(content, content.length - chunk, chunk);
    }
    HashValue128 h = Hashing.xxh3_128().hashBytesTo128Bits(sample.array());
    return String.format("%016x%016x", h.getMostSignificantBits(), h.getLeastSignificantBits());
  }

  @Test
  void idFollowsTheDocumentedRecipeForSmallAndLargeContent() throws Exception {
    for (int size : new int[] {0, 1, 1000, 3 * 65536, 3 * 65536 + 1, 5_000_000}) {
      byte[] content = random(size, size);
      String id = ContentId.of(content);
      assertEquals(recipe(content), id, "size " + size);
      assertTrue(ContentId.looksValid(id));
      Path file = dir.resolve("f" + size);
      Files.write(file, content);
      assertEquals(id, ContentId.of(file), "a file hashes like its bytes, size " + size);
    }
  }

  @Test
  void sameBytesSameIdAndAnyChangeInsideTheSampleChangesIt() {
    byte[] a = random(1_000_000, 7);
    assertEquals(ContentId.of(a), ContentId.of(a.clone()));
    for (int at : new int[] {0, 65535, (1_000_000 - 65536) / 2 + 10, 999_999}) {
      byte[] b = a.clone();
      b[at] ^= 1;
      assertNotEquals(ContentId.of(a), ContentId.of(b), "byte " + at);
    }
    byte[] longer = java.util.Arrays.copyOf(a, a.length + 1);
    assertNotEquals(ContentId.of(a), ContentId.of(longer), "the length is part of the sample");
  }

  @Test
  void bytesOutsideTheSampleDoNotChangeTheIdAsDocumented() {
    byte[] a = random(1_000_000, 8);
    byte[] b = a.clone();
    b[200_000] ^= 1; // between the first and the middle chunk
    assertEquals(ContentId.of(a), ContentId.of(b));
  }

  @Test
  void looksValidRefusesAnythingButThirtyTwoLowercaseHexDigits() {
    assertFalse(ContentId.looksValid("../../etc/passwd"));
    assertFalse(ContentId.looksValid("ABCDEF0123456789ABCDEF0123456789"));
    assertFalse(ContentId.looksValid(null));
    assertTrue(ContentId.looksValid("abcdef0123456789abcdef0123456789"));
  }
}
