package io.osprey.inference;

import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.bytedeco.opencv.global.opencv_imgproc.sepFilter2D;

import io.osprey.testing.Assets;
import io.osprey.testing.Fixtures;
import io.osprey.testing.UnitTest;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;
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

  /** The letterbox as it was made before halving: one triangle of the whole shrink over every source pixel. */
  private static void fullWidthTriangle(Mat image, Slicing.Window w, Letterbox box, ModelLayout layout,
                                        FloatBuffer into, int input) {
    double support = 1.0 / box.scale();
    int radius = Math.max(0, (int) Math.ceil(support) - 1);
    float[] weights = new float[2 * radius + 1];
    float sum = 0;
    for (int k = -radius; k <= radius; k++) {
      weights[k + radius] = (float) Math.max(0, 1 - Math.abs(k) / support);
      sum += weights[k + radius];
    }
    try (Mat kernel = new Mat(weights.length, 1, org.bytedeco.opencv.global.opencv_core.CV_32FC1);
         FloatPointer data = new FloatPointer(kernel.data()); Mat blurred = new Mat(); Mat resized = new Mat();
         Mat source = image.apply(new Rect(w.x1(), w.y1(), w.width(), w.height()));
         TilePreparer fill = new TilePreparer(layout, input, input);
         TilePreparer.Planes planes = new TilePreparer.Planes(into, 0, input, input)) {
      for (int i = 0; i < weights.length; i++) {
        data.put(i, weights[i] / sum);
      }
      sepFilter2D(source, blurred, -1, kernel, kernel);
      resize(blurred, resized, new Size(box.resizedWidth(), box.resizedHeight()), 0, 0, INTER_LINEAR);
      fill.fill(resized, box, planes);
    }
  }

  private static Mat realImage(String name) {
    Path file = Fixtures.imagesDir().resolve(name);
    Assets.require(Files.isRegularFile(file), "shared image " + file.toAbsolutePath() + " not found");
    return imread(file.toString(), IMREAD_COLOR);
  }

  @Test
  void slicesCutFromOneFilteredImageEqualSlicesFilteredOneByOne() throws Exception {
    // SAHI's automatic grid of a real photo: 18 overlapping 512x682 slices shrunk into 416, plus the whole image.
    try (Mat image = realImage("terrain1.jpg");
         TilePreparer prep = new TilePreparer(ModelLayout.YOLOX, 416, 416);
         TilePreparer.Source source = prep.source(image)) {
      FloatBuffer alone = tensor(416, 416);
      FloatBuffer cut = tensor(416, 416);
      try (TilePreparer.Planes a = new TilePreparer.Planes(alone, 0, 416, 416);
           TilePreparer.Planes c = new TilePreparer.Planes(cut, 0, 416, 416)) {
        List<Slicing.Window> windows = DetectionEngine.windows(image.cols(), image.rows(), DetectionParams.defaults());
        assertEquals(19, windows.size());
        for (Slicing.Window w : windows) {
          assertEquals(prep.prepare(image, w, a), source.prepare(w, c));
          for (int i = 0; i < alone.capacity(); i++) {
            if (alone.get(i) != cut.get(i)) {
              throw new AssertionError("window " + w + " value " + i + ": alone " + alone.get(i) + ", cut "
                  + cut.get(i));
            }
          }
        }
      }
    }
  }

  @Test
  void fullImagePassHalvesFirstAndStaysWithinHalfALevelOnAverageOfTheFullWidthTriangle() throws Exception {
    // 2048x1365 into 416 (shrink 4.9: one halving, then a 2.5 triangle) and into 320 (6.4: one halving, 3.2).
    try (Mat image = realImage("terrain1.jpg")) {
      Slicing.Window whole = new Slicing.Window(0, 0, image.cols(), image.rows());
      for (int input : new int[] {320, 416}) {
        ModelLayout layout = input == 320 ? ModelLayout.YOLOV8 : ModelLayout.YOLOX;
        double level = layout.rgbUnitScale() ? 1 / 255.0 : 1.0;
        FloatBuffer before = tensor(input, input);
        FloatBuffer now = tensor(input, input);
        try (TilePreparer prep = new TilePreparer(layout, input, input);
             TilePreparer.Planes planes = new TilePreparer.Planes(now, 0, input, input)) {
          Letterbox box = prep.prepare(image, whole, planes);
          fullWidthTriangle(image, whole, box, layout, before, input);
        }
        double sum = 0;
        int over = 0;
        for (int i = 0; i < now.capacity(); i++) {
          double d = Math.abs(now.get(i) - before.get(i)) / level;
          sum += d;
          if (d > 8) {
            over++;
          }
        }
        double mean = sum / now.capacity();
        System.out.printf("[tiles] full-image pass into %d: mean |halved - triangle| %.3f levels, %d of %d values"
            + " over 8 levels%n", input, mean, over, now.capacity());
        assertTrue(mean <= 0.5, "mean difference " + mean + " levels");
        assertTrue(over <= now.capacity() / 1000, over + " values differ by more than 8 levels");
      }
    }
  }

  @Test
  void shrinksBelowFourAreNotHalved() throws Exception {
    // 512x682 slices into 640 (shrink 1.07) and 416 (1.64), and the whole 2048x1365 image into 640 (3.2), come out
    // exactly as the full-width triangle makes them.
    try (Mat image = realImage("terrain1.jpg")) {
      Slicing.Window slice = new Slicing.Window(300, 200, 812, 882);
      Slicing.Window whole = new Slicing.Window(0, 0, image.cols(), image.rows());
      Object[][] cases = {{slice, 640, ModelLayout.YOLOV8}, {slice, 416, ModelLayout.YOLOX},
                          {whole, 640, ModelLayout.YOLOV8}};
      for (Object[] c : cases) {
        Slicing.Window w = (Slicing.Window) c[0];
        int input = (Integer) c[1];
        ModelLayout layout = (ModelLayout) c[2];
        FloatBuffer before = tensor(input, input);
        FloatBuffer now = tensor(input, input);
        try (TilePreparer prep = new TilePreparer(layout, input, input);
             TilePreparer.Planes planes = new TilePreparer.Planes(now, 0, input, input)) {
          Letterbox box = prep.prepare(image, w, planes);
          fullWidthTriangle(image, w, box, layout, before, input);
        }
        assertEquals(before, now, w + " into " + input);
      }
    }
  }

  @Test
  void onePreparerOverSeveralImagesCutsEverySliceAsIfFilteredAlone() throws Exception {
    // One preparer keeps its band buffer from image to image, and each row of slices reuses the filtered rows it
    // shares with the row before (terrain1's rows start at 0, 410 and 683, 682 high): every value must still be
    // what filtering that slice on its own gives, also after an image of another size.
    try (Mat terrain = realImage("terrain1.jpg"); Mat vehicles = realImage("small-vehicles1.jpeg");
         TilePreparer prep = new TilePreparer(ModelLayout.YOLOV8, 640, 640)) {
      FloatBuffer alone = tensor(640, 640);
      FloatBuffer cut = tensor(640, 640);
      try (TilePreparer.Planes a = new TilePreparer.Planes(alone, 0, 640, 640);
           TilePreparer.Planes c = new TilePreparer.Planes(cut, 0, 640, 640)) {
        int checked = 0;
        for (Mat image : new Mat[] {terrain, vehicles, terrain}) {
          List<Slicing.Window> windows = DetectionEngine.windows(image.cols(), image.rows(),
              DetectionParams.defaults());
          try (TilePreparer.Source source = prep.source(image)) {
            for (Slicing.Window w : windows) {
              assertEquals(prep.prepare(image, w, a), source.prepare(w, c));
              for (int i = 0; i < alone.capacity(); i++) {
                if (alone.get(i) != cut.get(i)) {
                  throw new AssertionError(image.cols() + "x" + image.rows() + " window " + w + " value " + i
                      + ": alone " + alone.get(i) + ", cut " + cut.get(i));
                }
              }
              checked++;
            }
          }
        }
        assertEquals(19 + 7 + 19, checked);
      }
    }
  }

  @Test
  void aTileAfterOneOfAnotherShapeIsGreyWhereverItsImageIsNot() throws Exception {
    // Only the border around the image area is repainted when the geometry changes: a wide window (padded above
    // and below), then a tall one (padded left and right) into the same planes must give what fresh planes give.
    try (Mat image = realImage("terrain1.jpg");
         TilePreparer prep = new TilePreparer(ModelLayout.YOLOV8, 320, 320)) {
      Slicing.Window wide = new Slicing.Window(0, 0, image.cols(), image.rows());
      Slicing.Window tall = new Slicing.Window(100, 50, 400, 850);
      for (Slicing.Window[] order : new Slicing.Window[][] {{wide, tall}, {tall, wide}}) {
        FloatBuffer reused = tensor(320, 320);
        FloatBuffer fresh = tensor(320, 320);
        try (TilePreparer.Planes r = new TilePreparer.Planes(reused, 0, 320, 320);
             TilePreparer.Planes f = new TilePreparer.Planes(fresh, 0, 320, 320)) {
          prep.prepare(image, order[0], r);
          Letterbox box = prep.prepare(image, order[1], r);
          prep.prepare(image, order[1], f);
          assertEquals(fresh, reused, "after " + order[0]);
          int grey = 0;
          for (int i = 0; i < fresh.capacity(); i++) {
            grey += fresh.get(i) == (float) (114 / 255.0) ? 1 : 0;
          }
          int border = 3 * (320 * 320 - box.resizedWidth() * box.resizedHeight());
          assertTrue(grey >= border, grey + " grey values, border " + border);
        }
      }
    }
  }
}
