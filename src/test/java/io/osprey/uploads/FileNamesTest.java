package io.osprey.uploads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import org.junit.jupiter.api.Test;

@UnitTest
class FileNamesTest {
  @Test
  void pathPartsAreDroppedWhateverTheSeparator() {
    assertEquals("x.jpg", FileNames.sanitize("../x.jpg"));
    assertEquals("x.jpg", FileNames.sanitize("/etc/x.jpg"));
    assertEquals("x.jpg", FileNames.sanitize("C:\\Users\\me\\x.jpg"));
    assertEquals("x.jpg", FileNames.sanitize("..\\..\\x.jpg"));
  }

  @Test
  void emptyDotsAndControlCharactersBecomeSafe() {
    assertEquals("unnamed", FileNames.sanitize(null));
    assertEquals("unnamed", FileNames.sanitize(""));
    assertEquals("unnamed", FileNames.sanitize(".."));
    assertEquals("unnamed", FileNames.sanitize("dir/"));
    assertEquals("ab.png", FileNames.sanitize("a\u0000b\n.png"));
  }

  @Test
  void longNamesKeepTheirExtension() {
    String name = FileNames.sanitize("a".repeat(400) + ".tiff");
    assertEquals(255, name.length());
    assertTrue(name.endsWith(".tiff"));
  }
}
