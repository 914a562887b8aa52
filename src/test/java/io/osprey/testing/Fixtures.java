package io.osprey.testing;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/** Test images: real aerial photos from ../shared (absent: skip, or fail with CI=true; see Assets) and generated ones. */
public final class Fixtures {
  private Fixtures() {
  }

  /** {@code OSPREY_TEST_IMAGES}, else ../shared/data/images next to the repository. */
  public static Path imagesDir() {
    String env = System.getenv("OSPREY_TEST_IMAGES");
    return env != null && !env.isBlank() ? Path.of(env) : Path.of("..", "shared", "data", "images");
  }

  public static List<Path> realImages() throws IOException {
    Path dir = imagesDir();
    Assets.require(Files.isDirectory(dir),
        "real test images not found at " + dir.toAbsolutePath() + " (set OSPREY_TEST_IMAGES)");
    try (Stream<Path> files = Files.list(dir)) {
      List<Path> images = files.filter(p -> p.getFileName().toString().matches("(?i).+\\.(jpe?g|png|tiff?)$"))
          .sorted().toList();
      Assets.require(!images.isEmpty(), "no images in " + dir.toAbsolutePath());
      return images;
    }
  }

  public static byte[] image(String format, int width, int height) throws IOException {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setColor(new Color(40, 120, 60));
    g.fillRect(0, 0, width, height);
    g.setColor(Color.WHITE);
    g.fillRect(width / 4, height / 4, Math.max(1, width / 2), Math.max(1, height / 2));
    g.dispose();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!ImageIO.write(img, format, out)) {
      throw new IllegalStateException("no ImageIO writer for " + format);
    }
    return out.toByteArray();
  }

  /** A small JPEG whose bytes differ for every seed (content ids are content hashes). */
  public static byte[] uniqueJpeg(int seed) throws IOException {
    BufferedImage img = new BufferedImage(320, 240, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    java.util.Random r = new java.util.Random(seed);
    g.setColor(new Color(r.nextInt(256), r.nextInt(256), r.nextInt(256)));
    g.fillRect(0, 0, 320, 240);
    for (int i = 0; i < 6; i++) {
      g.setColor(new Color(r.nextInt(256), r.nextInt(256), r.nextInt(256)));
      g.fillRect(r.nextInt(300), r.nextInt(220), 10 + r.nextInt(80), 10 + r.nextInt(80));
    }
    g.dispose();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "jpg", out);
    return out.toByteArray();
  }

  public static Path write(Path dir, String name, byte[] content) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, content);
    return p;
  }
}
