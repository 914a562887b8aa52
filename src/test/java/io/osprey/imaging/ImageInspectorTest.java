package io.osprey.imaging;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.Assets;
import io.osprey.testing.UnitTest;
import io.osprey.imaging.ImageInspector.Format;
import io.osprey.imaging.ImageInspector.Result;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

@UnitTest
class ImageInspectorTest {

  // Odd sizes catch width/height swaps and off-by-one packing mistakes.
  private static final int W = 97;
  private static final int H = 61;

  @TempDir
  Path dir;

  // --- file names and magic -------------------------------------------------------------------

  @Test
  void recognisesAllowedExtensionsCaseInsensitively() {
    assertEquals(Format.JPEG, ImageInspector.formatFromFileName("a.jpg"));
    assertEquals(Format.JPEG, ImageInspector.formatFromFileName("a.jpeg"));
    assertEquals(Format.JPEG, ImageInspector.formatFromFileName("A.JPG"));
    assertEquals(Format.JPEG, ImageInspector.formatFromFileName("photo.Jpeg"));
    assertEquals(Format.PNG, ImageInspector.formatFromFileName("x.y.PNG"));
    assertEquals(Format.TIFF, ImageInspector.formatFromFileName("scan.tif"));
    assertEquals(Format.TIFF, ImageInspector.formatFromFileName("scan.TIFF"));
    assertEquals(Format.TIFF, ImageInspector.formatFromFileName("dir/sub/scan.tiff"));
  }

  @Test
  void rejectsOtherOrMissingExtensions() {
    assertNull(ImageInspector.formatFromFileName("a.gif"));
    assertNull(ImageInspector.formatFromFileName("a.jpg.exe"));
    assertNull(ImageInspector.formatFromFileName("jpg"));
    assertNull(ImageInspector.formatFromFileName("a."));
    assertNull(ImageInspector.formatFromFileName("dir.png/file"));
    assertNull(ImageInspector.formatFromFileName(""));
    assertNull(ImageInspector.formatFromFileName(null));
  }

  @Test
  void canonicalExtensions() {
    assertEquals("jpg", Format.JPEG.extension());
    assertEquals("png", Format.PNG.extension());
    assertEquals("tiff", Format.TIFF.extension());
  }

  @Test
  void detectsFormatFromMagicBytes() {
    assertEquals(Format.JPEG, ImageInspector.formatFromMagic(bytes(0xFF, 0xD8, 0xFF, 0xE0), 4));
    assertEquals(Format.PNG,
        ImageInspector.formatFromMagic(bytes(0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A), 8));
    assertEquals(Format.TIFF, ImageInspector.formatFromMagic(bytes('I', 'I', 42, 0), 4));
    assertEquals(Format.TIFF, ImageInspector.formatFromMagic(bytes('M', 'M', 0, 42), 4));
    assertNull(ImageInspector.formatFromMagic(bytes('G', 'I', 'F', '8', '9', 'a'), 6));
    assertNull(ImageInspector.formatFromMagic(bytes('I', 'I', 43, 0), 4), "BigTIFF is not classic TIFF");
    // The length argument bounds what is looked at, so a too-short prefix is not a match.
    assertNull(ImageInspector.formatFromMagic(bytes(0xFF, 0xD8, 0xFF, 0xE0), 2));
    assertNull(ImageInspector.formatFromMagic(new byte[0], 0));
    assertNull(ImageInspector.formatFromMagic(null, 0));
  }

  // --- valid files ------------------------------------------------------------------------------

  @Test
  void acceptsBaselineJpegAndReportsItsSize() throws IOException {
    Result r = inspect(jpeg(image(W, H), false), "photo.jpg");
    assertValid(r, Format.JPEG, W, H);
  }

  @Test
  void acceptsProgressiveJpegWithSeveralScans() throws IOException {
    byte[] data = jpeg(image(W, H), true);
    assertTrue(countMarkers(data, 0xDA) > 1, "the writer should have produced several SOS scans");
    assertTrue(findMarker(data, 0xC2) > 0, "the writer should have produced a progressive SOF2");
    assertValid(inspect(data, "photo.jpeg"), Format.JPEG, W, H);
  }

  @Test
  void acceptsJpegWithTrailingBytesAfterEoi() throws IOException {
    byte[] data = concat(jpeg(image(W, H), false), "trailing garbage".getBytes(StandardCharsets.US_ASCII));
    assertValid(inspect(data, "photo.JPG"), Format.JPEG, W, H);
  }

  @Test
  void acceptsPngAndReportsItsSize() throws IOException {
    assertValid(inspect(png(image(W, H)), "image.png"), Format.PNG, W, H);
  }

  @Test
  void acceptsPngWithManyIdatChunksAndAlpha() throws IOException {
    BufferedImage img = new BufferedImage(401, 203, BufferedImage.TYPE_INT_ARGB);
    fillNoise(img, 7);
    byte[] data = png(img);
    assertTrue(pngChunks(data).stream().filter(c -> c.type.equals("IDAT")).count() > 1,
        "a noisy image this size should be split over several IDAT chunks");
    assertValid(inspect(data, "image.PNG"), Format.PNG, 401, 203);
  }

  @Test
  void acceptsBigEndianStripTiff() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.BIG_ENDIAN, false);
    assertEquals('M', data[0]);
    assertValid(inspect(data, "scan.tif"), Format.TIFF, W, H);
  }

  @Test
  void acceptsLittleEndianStripTiff() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.LITTLE_ENDIAN, false);
    assertEquals('I', data[0]);
    assertValid(inspect(data, "scan.tiff"), Format.TIFF, W, H);
  }

  @Test
  void acceptsTiledTiff() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.LITTLE_ENDIAN, true);
    assertNotNull(tiffEntry(data, 324), "the writer should have produced TileOffsets");
    assertValid(inspect(data, "tiles.TIF"), Format.TIFF, W, H);
  }

  @Test
  void acceptsSingleStripTiffWithInlineOffset() throws IOException {
    byte[] data = tiff(image(4, 3), ByteOrder.BIG_ENDIAN, false);
    assertEquals(1, tiffEntry(data, 273).count, "a tiny image should fit in one strip");
    assertValid(inspect(data, "tiny.tif"), Format.TIFF, 4, 3);
  }

  // --- wrong formats ------------------------------------------------------------------------------

  @Test
  void rejectsGifByExtension() throws IOException {
    Result r = inspect(gif(image(W, H)), "anim.gif");
    assertInvalid(r);
    assertTrue(r.errorMessage().contains("'anim.gif'"), r.errorMessage());
    assertTrue(r.errorMessage().contains(".gif"), r.errorMessage());
    assertTrue(r.errorMessage().startsWith("Only JPEG, PNG, TIFF allowed"), r.errorMessage());
  }

  @Test
  void rejectsGifDisguisedAsJpeg() throws IOException {
    Result r = inspect(gif(image(W, H)), "anim.jpg");
    assertInvalid(r);
    assertTrue(r.errorMessage().contains("GIF"), r.errorMessage());
    assertTrue(r.errorMessage().contains(".jpg"), r.errorMessage());
  }

  @Test
  void rejectsPngDataNamedJpg() throws IOException {
    Result r = inspect(png(image(W, H)), "a.jpg");
    assertInvalid(r);
    assertEquals("'a.jpg' is named .jpg but contains PNG data", r.errorMessage());
  }

  @Test
  void rejectsJpegDataNamedTiff() throws IOException {
    Result r = inspect(jpeg(image(W, H), false), "a.tiff");
    assertInvalid(r);
    assertTrue(r.errorMessage().contains("JPEG"), r.errorMessage());
  }

  @Test
  void rejectsRandomBytesNamedPng() throws IOException {
    byte[] data = new byte[4096];
    new Random(42).nextBytes(data);
    data[0] = 0x00; // make sure no seed can accidentally produce a real magic number
    Result r = inspect(data, "noise.png");
    assertInvalid(r);
    assertTrue(r.errorMessage().contains("not JPEG, PNG or TIFF"), r.errorMessage());
  }

  @Test
  void rejectsBigTiffAsUnsupported() throws IOException {
    byte[] data = bytes('I', 'I', 43, 0, 8, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0);
    Result r = inspect(data, "huge.tif");
    assertInvalid(r);
    assertTrue(r.errorMessage().contains("BigTIFF"), r.errorMessage());
  }

  @Test
  void checksExtensionBeforeContent() throws IOException {
    assertInvalid(inspect(new byte[0], "empty.gif"));
    assertInvalid(inspect(png(image(W, H)), "noext"));
  }

  // --- corrupted files ----------------------------------------------------------------------------

  @Test
  void reportsEmptyPngAsCorrupted() throws IOException {
    Result r = inspect(new byte[0], "empty.png");
    assertCorrupted(r);
    assertEquals(Format.PNG, r.format());
  }

  @Test
  void reportsFileShorterThanItsMagicAsCorrupted() throws IOException {
    assertCorrupted(inspect(bytes(0xFF, 0xD8), "stub.jpg"));
    assertCorrupted(inspect(bytes(0x89, 'P', 'N'), "stub.png"));
  }

  @Test
  void reportsJpegCutInHalfAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    assertCorrupted(inspect(Arrays.copyOf(data, data.length / 2), "half.jpg"));
  }

  @Test
  void reportsProgressiveJpegCutBeforeLastScanAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), true);
    int lastScan = lastMarker(data, 0xDA);
    assertCorrupted(inspect(Arrays.copyOf(data, lastScan + 20), "cut.jpg"));
  }

  @Test
  void reportsJpegWithOnlyHeadersAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    assertCorrupted(inspect(Arrays.copyOf(data, 40), "head.jpg"));
  }

  @Test
  void reportsJpegWithoutEoiAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    assertCorrupted(inspect(Arrays.copyOf(data, data.length - 2), "noeoi.jpg"));
  }

  @Test
  void reportsJpegSegmentLengthPastEndAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    int app0 = findMarker(data, 0xE0);
    data[app0 + 2] = (byte) 0xFF;
    data[app0 + 3] = (byte) 0xFF;
    byte[] small = Arrays.copyOf(data, Math.min(data.length, 60000));
    assertTrue(small.length < 0xFFFF);
    Result r = inspect(small, "len.jpg");
    assertCorrupted(r);
  }

  @Test
  void reportsJpegSegmentLengthBelowTwoAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    int app0 = findMarker(data, 0xE0);
    data[app0 + 2] = 0;
    data[app0 + 3] = 1;
    Result r = inspect(data, "len.jpg");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("invalid length 1"), r.errorMessage());
  }

  @Test
  void reportsJpegScanBeforeFrameHeaderAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    int sof = findMarker(data, 0xC0);
    int length = u16(data, sof + 2);
    byte[] withoutSof = concat(Arrays.copyOf(data, sof), Arrays.copyOfRange(data, sof + 2 + length, data.length));
    Result r = inspect(withoutSof, "nosof.jpg");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("SOS"), r.errorMessage());
  }

  @Test
  void reportsJpegWithZeroHeightAsCorrupted() throws IOException {
    byte[] data = jpeg(image(W, H), false);
    int sof = findMarker(data, 0xC0);
    data[sof + 5] = 0;
    data[sof + 6] = 0;
    assertCorrupted(inspect(data, "zero.jpg"));
  }

  @Test
  void reportsPngWithFlippedIdatByteAsCorrupted() throws IOException {
    byte[] data = png(image(W, H));
    int idat = indexOf(data, "IDAT".getBytes(StandardCharsets.US_ASCII));
    data[idat + 4 + 10] ^= 0x01;
    Result r = inspect(data, "flip.png");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("CRC"), r.errorMessage());
  }

  @Test
  void reportsPngWithoutIendAsCorrupted() throws IOException {
    byte[] data = png(image(W, H));
    Result r = inspect(Arrays.copyOf(data, data.length - 12), "noiend.png");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("IEND"), r.errorMessage());
  }

  @Test
  void reportsPngTruncatedInsideIdatAsCorrupted() throws IOException {
    byte[] data = png(image(W, H));
    assertCorrupted(inspect(Arrays.copyOf(data, data.length / 2), "half.png"));
  }

  @Test
  void reportsPngWithoutIdatAsCorrupted() throws IOException {
    List<Chunk> chunks = pngChunks(png(image(W, H)));
    chunks.removeIf(c -> c.type.equals("IDAT"));
    Result r = inspect(pngFrom(chunks), "noidat.png");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("IDAT"), r.errorMessage());
  }

  @Test
  void reportsPngNotStartingWithIhdrAsCorrupted() throws IOException {
    List<Chunk> chunks = pngChunks(png(image(W, H)));
    chunks.add(0, new Chunk("tEXt", "Comment\0first".getBytes(StandardCharsets.ISO_8859_1)));
    assertCorrupted(inspect(pngFrom(chunks), "order.png"));
  }

  @Test
  void reportsPngWithZeroWidthAsCorrupted() throws IOException {
    List<Chunk> chunks = pngChunks(png(image(W, H)));
    byte[] ihdr = chunks.get(0).data;
    Arrays.fill(ihdr, 0, 4, (byte) 0);
    assertCorrupted(inspect(pngFrom(chunks), "zero.png"));
  }

  @Test
  void reportsPngChunkLongerThanFileAsCorrupted() throws IOException {
    byte[] data = png(image(W, H));
    int idat = indexOf(data, "IDAT".getBytes(StandardCharsets.US_ASCII));
    data[idat - 4] = 0x10; // length now ~256 MB
    Result r = inspect(data, "long.png");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("past the end"), r.errorMessage());
  }

  @Test
  void reportsTiffStripOffsetPastEofAsCorrupted() throws IOException {
    for (ByteOrder order : List.of(ByteOrder.BIG_ENDIAN, ByteOrder.LITTLE_ENDIAN)) {
      byte[] data = tiff(image(W, H), order, false);
      setFirstArrayValue(data, tiffEntry(data, 273), data.length + 100L);
      Result r = inspect(data, "strip.tif");
      assertCorrupted(r);
      assertTrue(r.errorMessage().contains("strip 0"), r.errorMessage());
    }
  }

  @Test
  void reportsInlineTiffStripOffsetPastEofAsCorrupted() throws IOException {
    byte[] data = tiff(image(4, 3), ByteOrder.LITTLE_ENDIAN, false);
    setFirstArrayValue(data, tiffEntry(data, 273), data.length);
    assertCorrupted(inspect(data, "tiny.tif"));
  }

  @Test
  void reportsTiffTileOffsetPastEofAsCorrupted() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.BIG_ENDIAN, true);
    TiffEntry tiles = tiffEntry(data, 324);
    setFirstArrayValue(data, tiles, data.length - 1L);
    assertCorrupted(inspect(data, "tiles.tif"));
  }

  @Test
  void reportsTiffWithoutWidthAsCorrupted() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.BIG_ENDIAN, false);
    TiffEntry width = tiffEntry(data, 256);
    // Renumber the tag to an unused private one, so the IFD stays well-formed but has no width.
    ByteBuffer.wrap(data).order(width.order).putShort(width.entryPos, (short) 65000);
    Result r = inspect(data, "nowidth.tif");
    assertCorrupted(r);
    assertTrue(r.errorMessage().contains("ImageWidth"), r.errorMessage());
  }

  @Test
  void reportsTiffWithMismatchedStripCountsAsCorrupted() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.LITTLE_ENDIAN, false);
    TiffEntry counts = tiffEntry(data, 279);
    assertTrue(counts.count > 1);
    ByteBuffer.wrap(data).order(counts.order).putInt(counts.entryPos + 4, (int) counts.count - 1);
    assertCorrupted(inspect(data, "counts.tif"));
  }

  @Test
  void reportsTiffIfdOffsetPastEofAsCorrupted() throws IOException {
    byte[] data = tiff(image(W, H), ByteOrder.LITTLE_ENDIAN, false);
    ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putInt(4, data.length + 10);
    assertCorrupted(inspect(data, "ifd.tif"));
  }

  @Test
  void reportsTruncatedTiffHeaderAsCorrupted() throws IOException {
    assertCorrupted(inspect(bytes('M', 'M', 0, 42, 0, 0), "short.tif"));
  }

  @Test
  void throwsIoExceptionOnlyForMissingFile() {
    assertThrows(NoSuchFileException.class,
        () -> ImageInspector.inspect(dir.resolve("does-not-exist.png"), "x.png"));
  }

  // --- real photos ---------------------------------------------------------------------------------

  /**
   * Real camera and web images exercise marker layouts (EXIF, ICC profiles, restart intervals) that
   * ImageIO-generated files do not. Without the shared folder the test skips, or fails with CI=true.
   */
  @TestFactory
  Stream<DynamicTest> acceptsRealSampleImagesWithImageIoDimensions() throws IOException {
    String env = System.getenv("OSPREY_TEST_IMAGES");
    Path images = env != null && !env.isBlank() ? Paths.get(env) : Paths.get("../shared/data/images");
    Assets.require(Files.isDirectory(images),
        "sample images not found at " + images.toAbsolutePath().normalize()
            + " (set OSPREY_TEST_IMAGES to run this test)");
    List<Path> files;
    try (Stream<Path> list = Files.list(images)) {
      files = list.filter(p -> ImageInspector.formatFromFileName(p.getFileName().toString()) != null)
          .sorted().toList();
    }
    Assets.require(!files.isEmpty(), "no JPEG/PNG/TIFF files in " + images);
    return files.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> {
      String name = p.getFileName().toString();
      int[] expected = imageIoSize(p);
      Result r = ImageInspector.inspect(p, name);
      assertTrue(r.ok(), name + ": " + r.errorMessage());
      assertEquals(ImageInspector.formatFromFileName(name), r.format());
      assertEquals(expected[0], r.width(), name + " width");
      assertEquals(expected[1], r.height(), name + " height");
      // The README of the shared folder documents these two; a mismatch means different data.
      if (name.equals("bus.jpg")) {
        assertArrayEquals(new int[] {810, 1080}, new int[] {r.width(), r.height()});
      } else if (name.equals("zidane.jpg")) {
        assertArrayEquals(new int[] {1280, 720}, new int[] {r.width(), r.height()});
      }
    }));
  }

  // --- assertions -------------------------------------------------------------------------------

  private static void assertValid(Result r, Format format, int width, int height) {
    assertTrue(r.ok(), () -> "expected a valid image but got " + r.errorCode() + ": " + r.errorMessage());
    assertNull(r.errorMessage());
    assertEquals(format, r.format());
    assertEquals(width, r.width(), "width");
    assertEquals(height, r.height(), "height");
  }

  private static void assertInvalid(Result r) {
    assertFalse(r.ok());
    assertEquals("INVALID_FORMAT", r.errorCode(), r.errorMessage());
    assertNotNull(r.errorMessage());
  }

  private static void assertCorrupted(Result r) {
    assertFalse(r.ok(), "expected CORRUPTED_FILE but the file was accepted");
    assertEquals("CORRUPTED_FILE", r.errorCode(), r.errorMessage());
    assertTrue(r.errorMessage().startsWith("Unable to read image file"), r.errorMessage());
  }

  private Result inspect(byte[] data, String fileName) throws IOException {
    // The on-disk name is deliberately unrelated to fileName: only the client's name must matter.
    Path file = Files.createTempFile(dir, "upload", ".bin");
    Files.write(file, data);
    return ImageInspector.inspect(file, fileName);
  }

  // --- image generation ---------------------------------------------------------------------------

  private static BufferedImage image(int w, int h) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    fillNoise(img, 1);
    return img;
  }

  // Noise makes the encoders emit 0xFF bytes in JPEG entropy data (stuffed as FF 00) and
  // incompressible PNG data, which is what the parsers must cope with.
  private static void fillNoise(BufferedImage img, long seed) {
    Random random = new Random(seed);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int base = ((x * 255 / img.getWidth()) << 16) | ((y * 255 / img.getHeight()) << 8);
        img.setRGB(x, y, 0xFF000000 | (base ^ (random.nextInt() & 0x3F3F3F)));
      }
    }
  }

  private static byte[] jpeg(BufferedImage img, boolean progressive) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    ImageWriteParam param = writer.getDefaultWriteParam();
    if (progressive) {
      param.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
    }
    return write(writer, img, param);
  }

  private static byte[] tiff(BufferedImage img, ByteOrder order, boolean tiled) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("tiff").next();
    ImageWriteParam param = writer.getDefaultWriteParam();
    if (tiled) {
      param.setTilingMode(ImageWriteParam.MODE_EXPLICIT);
      param.setTiling(32, 32, 0, 0);
    }
    byte[] bigEndian = write(writer, img, param);
    assertEquals('M', bigEndian[0], "the JDK TIFF writer is expected to write big-endian files");
    if (order == ByteOrder.BIG_ENDIAN) {
      return bigEndian;
    }
    byte[] littleEndian = toLittleEndian(bigEndian);
    // Guard the converter itself: ImageIO must decode the converted file to the same pixels.
    BufferedImage back = ImageIO.read(new java.io.ByteArrayInputStream(littleEndian));
    assertNotNull(back, "ImageIO cannot read the little-endian conversion");
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        assertEquals(img.getRGB(x, y), back.getRGB(x, y), "pixel " + x + "," + y);
      }
    }
    return littleEndian;
  }

  private static byte[] write(ImageWriter writer, BufferedImage img, ImageWriteParam param)
      throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
      writer.setOutput(ios);
      writer.write(null, new IIOImage(img, null, null), param);
    } finally {
      writer.dispose();
    }
    return out.toByteArray();
  }

  private static byte[] png(BufferedImage img) throws IOException {
    return imageIo(img, "png");
  }

  private static byte[] gif(BufferedImage img) throws IOException {
    return imageIo(img, "gif");
  }

  private static byte[] imageIo(BufferedImage img, String format) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(img, format, out), "no ImageIO writer for " + format);
    return out.toByteArray();
  }

  private static int[] imageIoSize(Path file) throws IOException {
    try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
      assertTrue(readers.hasNext(), "ImageIO cannot read " + file);
      ImageReader reader = readers.next();
      try {
        reader.setInput(in);
        // getWidth/getHeight only parse headers, which keeps the real-photo test fast.
        return new int[] {reader.getWidth(0), reader.getHeight(0)};
      } finally {
        reader.dispose();
      }
    }
  }

  // --- JPEG byte helpers ----------------------------------------------------------------------------

  /** Offset of the first header marker 0xFF{code} (walks segments, so it never matches scan data). */
  private static int findMarker(byte[] data, int code) {
    List<Integer> all = markerOffsets(data, code);
    return all.isEmpty() ? -1 : all.get(0);
  }

  private static int lastMarker(byte[] data, int code) {
    List<Integer> all = markerOffsets(data, code);
    return all.get(all.size() - 1);
  }

  private static int countMarkers(byte[] data, int code) {
    return markerOffsets(data, code).size();
  }

  private static List<Integer> markerOffsets(byte[] data, int code) {
    List<Integer> found = new ArrayList<>();
    int i = 2;
    while (i + 1 < data.length) {
      if ((data[i] & 0xFF) != 0xFF) {
        i++;
        continue;
      }
      int m = data[i + 1] & 0xFF;
      if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7)) {
        i++;
        continue;
      }
      if (m == code) {
        found.add(i);
      }
      if (m == 0xD9) {
        break;
      }
      int length = u16(data, i + 2);
      i += 2 + length;
      if (m == 0xDA) {
        // Skip entropy-coded data up to the next real marker.
        while (i + 1 < data.length && !((data[i] & 0xFF) == 0xFF && data[i + 1] != 0
            && ((data[i + 1] & 0xFF) < 0xD0 || (data[i + 1] & 0xFF) > 0xD7))) {
          i++;
        }
      }
    }
    return found;
  }

  // --- PNG byte helpers -----------------------------------------------------------------------------

  private record Chunk(String type, byte[] data) {
  }

  private static List<Chunk> pngChunks(byte[] png) {
    List<Chunk> chunks = new ArrayList<>();
    ByteBuffer bb = ByteBuffer.wrap(png);
    bb.position(8);
    while (bb.remaining() >= 12) {
      int length = bb.getInt();
      byte[] type = new byte[4];
      bb.get(type);
      byte[] data = new byte[length];
      bb.get(data);
      bb.getInt();
      chunks.add(new Chunk(new String(type, StandardCharsets.US_ASCII), data));
    }
    return chunks;
  }

  /** Reassembles chunks with correct CRCs, so tests isolate structural faults from CRC faults. */
  private static byte[] pngFrom(List<Chunk> chunks) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(bytes(0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A));
    for (Chunk c : chunks) {
      byte[] type = c.type.getBytes(StandardCharsets.US_ASCII);
      CRC32 crc = new CRC32();
      crc.update(type);
      crc.update(c.data);
      out.writeBytes(ByteBuffer.allocate(4).putInt(c.data.length).array());
      out.writeBytes(type);
      out.writeBytes(c.data);
      out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }
    return out.toByteArray();
  }

  // --- TIFF byte helpers ----------------------------------------------------------------------------

  private record TiffEntry(ByteOrder order, int entryPos, int type, long count, long value) {
  }

  private static TiffEntry tiffEntry(byte[] data, int tag) {
    ByteBuffer bb = ByteBuffer.wrap(data).order(data[0] == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
    int ifd = bb.getInt(4);
    int n = Short.toUnsignedInt(bb.getShort(ifd));
    for (int i = 0; i < n; i++) {
      int pos = ifd + 2 + 12 * i;
      if (Short.toUnsignedInt(bb.getShort(pos)) == tag) {
        int type = bb.getShort(pos + 2);
        long count = Integer.toUnsignedLong(bb.getInt(pos + 4));
        long value = type == 3 ? Short.toUnsignedInt(bb.getShort(pos + 8)) : Integer.toUnsignedLong(bb.getInt(pos + 8));
        return new TiffEntry(bb.order(), pos, type, count, value);
      }
    }
    return null;
  }

  /**
   * Rewrites a big-endian TIFF as little-endian, since the JDK writer only produces "MM" files.
   * Only the header and IFD0 (entries and their out-of-line values) change; pixel data is left
   * alone, which is right for the 8-bit samples the tests generate.
   */
  private static byte[] toLittleEndian(byte[] be) {
    byte[] le = be.clone();
    ByteBuffer in = ByteBuffer.wrap(be);
    ByteBuffer out = ByteBuffer.wrap(le).order(ByteOrder.LITTLE_ENDIAN);
    le[0] = 'I';
    le[1] = 'I';
    out.putShort(2, (short) 42);
    int ifd = in.getInt(4);
    out.putInt(4, ifd);
    int n = Short.toUnsignedInt(in.getShort(ifd));
    out.putShort(ifd, (short) n);
    for (int i = 0; i < n; i++) {
      int pos = ifd + 2 + 12 * i;
      int type = in.getShort(pos + 2);
      int count = in.getInt(pos + 4);
      out.putShort(pos, in.getShort(pos));
      out.putShort(pos + 2, (short) type);
      out.putInt(pos + 4, count);
      int elementSize = switch (type) {
        case 1, 2, 6, 7 -> 1;
        case 3, 8 -> 2;
        case 4, 9, 11 -> 4;
        case 5, 10, 12 -> 8;
        default -> throw new AssertionError("unexpected TIFF type " + type);
      };
      int bytes = count * elementSize;
      int at = bytes <= 4 ? pos + 8 : in.getInt(pos + 8);
      if (bytes > 4) {
        out.putInt(pos + 8, at);
      }
      // Rationals are pairs of LONGs; doubles are swapped whole.
      int unit = type == 5 || type == 10 ? 4 : elementSize;
      for (int off = 0; off < bytes; off += unit) {
        for (int k = 0; k < unit; k++) {
          le[at + off + k] = be[at + off + unit - 1 - k];
        }
      }
    }
    int next = ifd + 2 + 12 * n;
    out.putInt(next, in.getInt(next));
    return le;
  }

  /** Overwrites element 0 of a SHORT/LONG array, wherever the entry keeps it. */
  private static void setFirstArrayValue(byte[] data, TiffEntry e, long value) {
    int size = e.type == 3 ? 2 : 4;
    int at = e.count * size <= 4 ? e.entryPos + 8 : (int) e.value;
    ByteBuffer bb = ByteBuffer.wrap(data).order(e.order);
    if (size == 2) {
      assertTrue(value <= 0xFFFF, "value does not fit a SHORT array");
      bb.putShort(at, (short) value);
    } else {
      bb.putInt(at, (int) value);
    }
  }

  // --- misc -----------------------------------------------------------------------------------------

  private static byte[] bytes(int... values) {
    byte[] b = new byte[values.length];
    for (int i = 0; i < values.length; i++) {
      b[i] = (byte) values[i];
    }
    return b;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static int u16(byte[] data, int at) {
    return ((data[at] & 0xFF) << 8) | (data[at + 1] & 0xFF);
  }

  private static int indexOf(byte[] data, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= data.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (data[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found: " + new String(needle, StandardCharsets.ISO_8859_1));
  }
}
