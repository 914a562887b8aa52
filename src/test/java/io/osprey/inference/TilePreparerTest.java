package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Fixtures;
import io.osprey.testing.UnitTest;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

@UnitTest
class TilePreparerTest {
  @BeforeAll
  static void natives() throws Exception {
    NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
  }

  private static Mat decode(byte[] png) {
    try (BytePointer bytes = new BytePointer(png); Mat raw = new Mat(1, png.length, org.bytedeco.opencv.global.opencv_core.CV_8UC1, bytes)) {
      return imdecode(raw, IMREAD_COLOR);
    }
  }

  private static FloatBuffer tensor(int w, int h) {
    return ByteBuffer.allocateDirect(3 * w * h * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  @Test
  void windowWithoutResizeIsCopiedPixelForPixelInRgbPlanesScaledToUnit() throws Exception {
    // A window exactly the input size needs no resize, so every value can be checked against ImageIO's pixels.
    byte[] png = Fixtures.image("png", 200, 150);
    BufferedImage expected = ImageIO.read(new ByteArrayInputStream(png));
    FloatBuffer t = tensor(64, 64);
    try (Mat image = decode(png); TilePreparer prep = new TilePreparer(ModelLayout.YOLOV8, 64, 64);
         TilePreparer.Planes planes = new TilePreparer.Planes(t, 0, 64, 64)) {
      Letterbox box = prep.prepare(image, new Slicing.Window(40, 30, 104, 94), planes);
      assertEquals(1.0, box.scale());
      assertEquals(0, box.padLeft());
      for (int y = 0; y < 64; y += 7) {
        for (int x = 0; x < 64; x += 5) {
          int rgb = expected.getRGB(40 + x, 30 + y);
          assertEquals(((rgb >> 16) & 0xff) / 255f, t.get(y * 64 + x), 1e-6, "R at " + x + "," + y);
          assertEquals(((rgb >> 8) & 0xff) / 255f, t.get(64 * 64 + y * 64 + x), 1e-6, "G");
          assertEquals((rgb & 0xff) / 255f, t.get(2 * 64 * 64 + y * 64 + x), 1e-6, "B");
        }
      }
    }
  }

  @Test
  void yoloxGetsRawBgrAtTheTopLeftWithGreyPadding() throws Exception {
    byte[] png = Fixtures.image("png", 100, 50);
    BufferedImage expected = ImageIO.read(new ByteArrayInputStream(png));
    FloatBuffer t = tensor(100, 100);
    try (Mat image = decode(png); TilePreparer prep = new TilePreparer(ModelLayout.YOLOX, 100, 100);
         TilePreparer.Planes planes = new TilePreparer.Planes(t, 0, 100, 100)) {
      prep.prepare(image, new Slicing.Window(0, 0, 100, 50), planes);
      int rgb = expected.getRGB(10, 10);
      assertEquals(rgb & 0xff, t.get(10 * 100 + 10), 1e-4, "B first");
      assertEquals((rgb >> 16) & 0xff, t.get(2 * 100 * 100 + 10 * 100 + 10), 1e-4, "R last");
      assertEquals(114f, t.get(80 * 100 + 10), 1e-4, "padding below the image");
    }
  }

  @Test
  void centredLetterboxPadsBothSidesWithGrey() throws Exception {
    byte[] png = Fixtures.image("png", 100, 200);
    FloatBuffer t = tensor(64, 64);
    try (Mat image = decode(png); TilePreparer prep = new TilePreparer(ModelLayout.YOLOV8, 64, 64);
         TilePreparer.Planes planes = new TilePreparer.Planes(t, 0, 64, 64)) {
      Letterbox box = prep.prepare(image, new Slicing.Window(0, 0, 100, 200), planes);
      assertEquals(32, box.resizedWidth());
      assertEquals(64, box.resizedHeight());
      assertEquals(16, box.padLeft());
      assertEquals(114 / 255f, t.get(32 * 64 + 2), 1e-6, "left padding");
      assertEquals(114 / 255f, t.get(32 * 64 + 61), 1e-6, "right padding");
    }
  }

  @Test
  void nativeObjectsDoNotAccumulateOverThousandsOfTiles() throws Exception {
    byte[] png = Fixtures.image("png", 1000, 700);
    FloatBuffer t = tensor(320, 320);
    try (Mat image = decode(png); TilePreparer prep = new TilePreparer(ModelLayout.YOLOV8, 320, 320);
         TilePreparer.Planes planes = new TilePreparer.Planes(t, 0, 320, 320)) {
      for (int i = 0; i < 200; i++) {
        prep.prepare(image, new Slicing.Window(i % 500, i % 300, i % 500 + 400, i % 300 + 300), planes);
      }
      long pointers = Pointer.totalCount();
      long bytes = Pointer.totalBytes();
      for (int i = 0; i < 3000; i++) {
        prep.prepare(image, new Slicing.Window(i % 500, i % 300, i % 500 + 400, i % 300 + 300), planes);
      }
      assertTrue(Pointer.totalCount() <= pointers + 10, "live native pointers grew from " + pointers + " to "
          + Pointer.totalCount());
      assertTrue(Pointer.totalBytes() <= bytes + 1_000_000, "native bytes grew from " + bytes + " to "
          + Pointer.totalBytes());
    }
  }
}
