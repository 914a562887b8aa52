package io.osprey.bench;

import io.osprey.Role;
import io.osprey.testing.Http;
import io.osprey.testing.ImageBombs;
import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;

/**
 * Native memory of annotation creates of the largest image the pixel budget allows (issue 14, item 1): a service
 * process of its own (role api, -Xmx1g) gets C concurrent {@code POST /annotations} (multipart) of an 8192x8192
 * JPEG and then of an 8192x8192 PNG, every request with different bytes (a JPEG comment / PNG text chunk), and its
 * resident set size is sampled every 20 ms from /proc. Then the same with a 20000x20000 PNG bomb, which must be
 * refused from its header. Usage: {@code scripts/bench-image-bombs.sh [--clients 20] [--budget PIXELS]}; with
 * {@code --budget} the service runs with that images.decode_budget_pixels (e.g. 1099511627776 for no gate).
 */
public final class ImageBombBenchmark {
  private static final int SIDE = 8192;

  public static void main(String[] args) throws Exception {
    int clients = 20;
    String budget = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--clients" -> clients = Integer.parseInt(args[++i]);
        case "--budget" -> budget = args[++i];
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    System.out.printf("machine: %d cores, java %s; %d concurrent creates per image%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), clients);
    byte[] jpeg = largest("jpg");
    byte[] png = largest("png");
    System.out.printf("images: %dx%d JPEG %d bytes, PNG %d bytes%n", SIDE, SIDE, jpeg.length, png.length);
    try (TestService service = TestService.start(ImageBombBenchmark.class, Role.API, new JsonObject())) {
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Map<String, String> env = new HashMap<>(Map.of("OSPREY_HTTP_PORT", Integer.toString(port)));
      if (budget != null) {
        env.put("OSPREY_IMAGES_DECODE_BUDGET_PIXELS", budget);
      }
      Path log = Files.createTempFile("osprey-bench-images-", ".log");
      Process process = service.spawn(Role.API, env, log);
      try {
        String base = "http://127.0.0.1:" + port;
        TestService.awaitLive(base, process, log, 90_000);
        String token = TestAuth.annotator();
        // Warm-up: OpenCV natives, JIT, pools.
        post(base, token, "warm.jpg", withComment(io.osprey.testing.Fixtures.uniqueJpeg(1), "warm"));
        System.out.printf("decode budget: %s pixels%n", budget == null ? "default (images.decode_budget_pixels)"
            : budget);
        System.out.printf("service RSS after start and one small create: %d MB%n", rss(process) >> 20);
        run(base, token, process, "JPEG 8192x8192", clients, n -> withComment(jpeg, "c" + n));
        run(base, token, process, "PNG 8192x8192", clients, n -> ImageBombs.withText(png, "c" + n));
        run(base, token, process, "PNG bomb 20000x20000", clients,
            n -> ImageBombs.withText(ImageBombs.png(20000, 20000), "b" + n));
        System.out.printf("service peak RSS over the whole run (VmHWM): %d MB%n", hwm(process) >> 20);
        if (FIRST_FAILURE.get() != null) {
          System.out.println("first 5xx answer: " + FIRST_FAILURE.get());
          Files.readAllLines(log).stream().filter(l -> l.contains("ERROR")).limit(5).forEach(System.out::println);
        }
      } finally {
        process.destroyForcibly();
        Files.deleteIfExists(log);
      }
    }
    System.exit(0); // the test JWKS server's dispatcher thread would keep the JVM alive
  }

  private static final java.util.concurrent.atomic.AtomicReference<String> FIRST_FAILURE =
      new java.util.concurrent.atomic.AtomicReference<>();

  private interface Body {
    byte[] make(int n) throws Exception;
  }

  private static void run(String base, String token, Process process, String what, int clients, Body body)
      throws Exception {
    List<byte[]> bodies = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      bodies.add(body.make(i));
    }
    long before = rss(process);
    AtomicLong peak = new AtomicLong(before);
    AtomicBoolean done = new AtomicBoolean();
    Thread sampler = new Thread(() -> {
      while (!done.get()) {
        try {
          peak.accumulateAndGet(rss(process), Math::max);
          Thread.sleep(20);
        } catch (Exception e) {
          return;
        }
      }
    });
    sampler.start();
    Map<Integer, Integer> statuses = new ConcurrentHashMap<>();
    CountDownLatch all = new CountDownLatch(clients);
    long start = System.nanoTime();
    for (int i = 0; i < clients; i++) {
      int n = i;
      new Thread(() -> {
        try {
          statuses.merge(post(base, token, "img" + n, bodies.get(n)), 1, Integer::sum);
        } catch (Exception e) {
          statuses.merge(-1, 1, Integer::sum);
        } finally {
          all.countDown();
        }
      }).start();
    }
    all.await();
    double seconds = (System.nanoTime() - start) / 1e9;
    done.set(true);
    sampler.join();
    long after = rss(process);
    System.out.printf("%-22s %2d creates in %5.1f s, statuses %s; RSS before %5d MB, peak %5d MB (+%d MB),"
        + " after %5d MB%n", what, clients, seconds, statuses, before >> 20, peak.get() >> 20,
        (peak.get() - before) >> 20, after >> 20);
  }

  private static int post(String base, String token, String name, byte[] image) throws Exception {
    String annotation = new JsonObject().put("flightId", "bench-bombs").put("detections", new JsonArray()
        .add(new JsonObject().put("classNum", 0).put("label", "car").put("centerX", 0.5).put("centerY", 0.5)
            .put("width", 0.1).put("height", 0.1))).encode();
    boolean png = image.length > 1 && (image[0] & 0xFF) == 0x89;
    Http.Response r = new Http.Multipart().token(token).bytes("image", name + (png ? ".png" : ".jpg"), image)
        .field("annotation", annotation).post(base + "/annotations");
    if (r.status() >= 500) {
      FIRST_FAILURE.compareAndSet(null, r.body());
    }
    return r.status();
  }

  /** An 8192x8192 aerial-like pattern (smooth gradients and blocks: a real photo would not fit 50 MB as PNG). */
  private static byte[] largest(String format) throws IOException {
    Path cache = Path.of("target", "bench-images", "largest-" + SIDE + "." + format);
    if (Files.exists(cache)) {
      return Files.readAllBytes(cache);
    }
    BufferedImage img = new BufferedImage(SIDE, SIDE, BufferedImage.TYPE_3BYTE_BGR);
    byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
    java.util.Random random = new java.util.Random(14);
    for (int y = 0; y < SIDE; y++) {
      for (int x = 0; x < SIDE; x++) {
        int i = (y * SIDE + x) * 3;
        int block = ((x >> 9) * 31 + (y >> 9) * 17) & 0x3F;
        px[i] = (byte) (60 + block + (x >> 7));
        px[i + 1] = (byte) (90 + (y >> 6) + block);
        px[i + 2] = (byte) (40 + ((x + y) >> 8) + (random.nextInt(4)));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, format, out);
    Files.createDirectories(cache.getParent());
    Files.write(cache, out.toByteArray());
    return out.toByteArray();
  }

  /** The JPEG with a comment segment right after SOI, so that each request has its own content id. */
  private static byte[] withComment(byte[] jpeg, String text) {
    byte[] t = text.getBytes(StandardCharsets.US_ASCII);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(jpeg, 0, 2);
    out.write(0xFF);
    out.write(0xFE);
    out.write((t.length + 2) >> 8);
    out.write((t.length + 2) & 0xFF);
    out.writeBytes(t);
    out.write(jpeg, 2, jpeg.length - 2);
    return out.toByteArray();
  }

  private static long rss(Process p) throws IOException {
    return statusKb(p, "VmRSS:") << 10;
  }

  private static long hwm(Process p) throws IOException {
    return statusKb(p, "VmHWM:") << 10;
  }

  private static long statusKb(Process p, String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(p.pid()), "status"))) {
      if (line.startsWith(field)) {
        return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
      }
    }
    return 0;
  }
}
