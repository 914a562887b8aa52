package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_core.absdiff;
import static org.bytedeco.opencv.global.opencv_core.countNonZero;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Assets;
import io.osprey.testing.Fixtures;
import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@UnitTest
class ImageReaderTest {
  @BeforeAll
  static void natives() throws Exception {
    NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
  }

  private static Path real(String name) {
    Path file = Fixtures.imagesDir().resolve(name);
    Assets.require(Files.isRegularFile(file), "shared image " + file.toAbsolutePath() + " not found");
    return file;
  }

  /** Fails unless {@code got} has imread's size and every one of its values. */
  private static void assertSameAsImread(Path file, Mat got) {
    try (Mat expected = imread(file.toString(), IMREAD_COLOR); Mat diff = new Mat()) {
      assertEquals(expected.cols() + "x" + expected.rows(), got.cols() + "x" + got.rows(), file.toString());
      assertEquals(expected.type(), got.type());
      absdiff(expected, got, diff);
      try (Mat flat = diff.reshape(1)) {
        assertEquals(0, countNonZero(flat), "values differing from imread in " + file);
      }
    }
  }

  @Test
  void imagesOfAnySizeDecodeAsImreadDoesAndThoseThatFitLandInTheKeptBuffer() throws Exception {
    // 2048x1365 JPEG, then smaller ones (JPEG, PNG), then the first again: each equals imread, and each is
    // decoded into the buffer the first one needed (the point of the reader: no new pages per image).
    Path[] files = {real("terrain1.jpg"), real("small-vehicles1.jpeg"), real("terrain2.png"), real("bus.jpg"),
                    real("terrain1.jpg")};
    try (ImageReader reader = new ImageReader()) {
      long buffer = -1;
      for (Path file : files) {
        Mat image = reader.read(file);
        assertSameAsImread(file, image);
        if (buffer < 0) {
          buffer = image.data().address();
        }
        assertEquals(buffer, image.data().address(), file + " was not decoded into the kept buffer");
      }
      reader.trim();
      assertEquals(3L * 2048 * 1365, reader.keptBytes(), "an 8 MB buffer is kept between images");
    }
  }

  @Test
  void exifRotationIsAppliedAsImreadAppliesIt(@TempDir Path dir) throws Exception {
    // A 64x32 JPEG tagged "rotate 90 clockwise" (orientation 6) comes out 32x64, pixel for pixel as imread has it.
    byte[] jpeg = Fixtures.image("jpg", 64, 32);
    byte[] exif = {(byte) 0xFF, (byte) 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                   0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
    byte[] tagged = new byte[jpeg.length + exif.length];
    System.arraycopy(jpeg, 0, tagged, 0, 2);
    System.arraycopy(exif, 0, tagged, 2, exif.length);
    System.arraycopy(jpeg, 2, tagged, 2 + exif.length, jpeg.length - 2);
    Path file = Fixtures.write(dir, "rotated.jpg", tagged);
    try (ImageReader reader = new ImageReader()) {
      reader.read(real("terrain1.jpg"));
      Mat image = reader.read(file);
      assertEquals(32, image.cols());
      assertEquals(64, image.rows());
      assertSameAsImread(file, image);
      // The kept buffer is still there for the next image.
      assertSameAsImread(real("small-vehicles1.jpeg"), reader.read(real("small-vehicles1.jpeg")));
    }
  }

  @Test
  void anUndecodableFileGivesAnEmptyImageAndTheNextOneDecodes(@TempDir Path dir) throws Exception {
    byte[] noImage = "not an image at all".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    try (ImageReader reader = new ImageReader()) {
      reader.read(real("terrain1.jpg"));
      for (Path file : new Path[] {Fixtures.write(dir, "empty.jpg", new byte[0]),
                                   Fixtures.write(dir, "text.jpg", noImage)}) {
        assertTrue(reader.read(file).empty(), file + " decoded");
      }
      Path truncated = Fixtures.write(dir, "truncated.jpg", java.util.Arrays.copyOf(Fixtures.image("jpg", 64, 48),
          40));
      Mat cut = reader.read(truncated);
      try (Mat expected = imread(truncated.toString(), IMREAD_COLOR)) {
        assertEquals(expected.empty(), cut.empty(), "imread and the reader disagree on a truncated JPEG");
      }
      assertSameAsImread(real("bus.jpg"), reader.read(real("bus.jpg")));
    }
  }

  @Test
  void aBufferLargerThanTheLimitIsFreedAfterTheImage() throws Exception {
    try (ImageReader reader = new ImageReader(1 << 20)) {
      Mat image = reader.read(real("terrain1.jpg"));
      assertEquals(2048, image.cols());
      assertEquals(3L * 2048 * 1365, reader.keptBytes());
      reader.trim();
      assertEquals(0, reader.keptBytes());
      assertSameAsImread(real("terrain1.jpg"), reader.read(real("terrain1.jpg")));
    }
  }

  @Test
  void jpegAndPngHeadersGiveTheSizeBeforeRotation() throws Exception {
    for (String name : new String[] {"terrain1.jpg", "small-vehicles1.jpeg", "bus.jpg", "zidane.jpg",
                                     "terrain2.png"}) {
      byte[] bytes = Files.readAllBytes(real(name));
      java.nio.ByteBuffer data = java.nio.ByteBuffer.wrap(bytes);
      long size = ImageReader.declaredSize(data, bytes.length);
      try (Mat expected = imread(real(name).toString(), IMREAD_COLOR)) {
        assertEquals(expected.cols() + "x" + expected.rows(), (size >>> 32) + "x" + (int) size, name);
      }
    }
    assertEquals(-1, ImageReader.declaredSize(java.nio.ByteBuffer.wrap(new byte[] {(byte) 0xFF, (byte) 0xD8, 0, 0}),
        4));
  }
}
