package io.osprey.bench;

import io.osprey.testing.TestAuth;
import io.osprey.testing.TestService;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;

/**
 * Dataset export throughput (issue 18): N annotations with images of B bytes and D boxes each are written straight
 * into the database and storage of a real service, then each format is exported (split 0.8) R times over loopback;
 * for each: MB/s of zip and the time to its first bytes (COCO reads every row once before it writes).
 * Usage: {@code scripts/bench-export.sh [--annotations N] [--image-bytes B] [--boxes D] [--rounds R]}
 */
public final class ExportBenchmark {
  public static void main(String[] args) throws Exception {
    int count = 2000;
    int imageBytes = 100_000;
    int boxes = 10;
    int rounds = 2;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--annotations" -> count = Integer.parseInt(args[++i]);
        case "--image-bytes" -> imageBytes = Integer.parseInt(args[++i]);
        case "--boxes" -> boxes = Integer.parseInt(args[++i]);
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    try (TestService service = TestService.start(ExportBenchmark.class)) {
      Path images = service.storage().resolve("annotations").resolve("images");
      Files.createDirectories(images);
      try (var c = service.jdbc()) {
        c.createStatement().execute("INSERT INTO media (id, name, media_type, format, size_bytes, path, created_by,"
            + " files_state) VALUES ('benchmedia', 'b', 'Image', 'JPEG', 1, '/x', 'bench', 'complete')");
        try (var ann = c.prepareStatement("INSERT INTO annotations (id, media_id, name, flight_id, source, status,"
            + " image_format, width, height, files_state, created_by) VALUES (?, 'benchmedia', 'b', 'f', 'AI', 30,"
            + " 'jpg', 640, 480, 'complete', 'bench')");
             var det = c.prepareStatement("INSERT INTO detections (annotation_id, idx, class_num, label, center_x,"
                 + " center_y, width, height, confidence) VALUES (?, ?, ?, 'x', 0.5, 0.5, 0.1, 0.1, 0.9)")) {
          byte[] bytes = new byte[imageBytes];
          for (int i = 0; i < count; i++) {
            String id = String.format(Locale.ROOT, "%032x", 0xbe0000L + i);
            new Random(i).nextBytes(bytes);
            Files.write(images.resolve(id + ".jpg"), bytes);
            ann.setString(1, id);
            ann.addBatch();
            for (int k = 0; k < boxes; k++) {
              det.setString(1, id);
              det.setInt(2, k);
              det.setInt(3, k % 80);
              det.addBatch();
            }
          }
          ann.executeBatch();
          det.executeBatch();
        }
      }
      HttpClient http = HttpClient.newHttpClient();
      String token = TestAuth.admin();
      System.out.printf(Locale.ROOT, "%d annotations, %d-byte images, %d boxes each; %d cores%n", count, imageBytes,
          boxes, Runtime.getRuntime().availableProcessors());
      for (int round = 1; round <= rounds; round++) {
        for (String format : new String[] {"yolo", "coco", "voc"}) {
          long t0 = System.nanoTime();
          HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(URI.create(service.baseUrl()
                  + "/annotations/export?format=" + format + "&split=0.8")).header("Authorization", "Bearer " + token)
              .build(), HttpResponse.BodyHandlers.ofInputStream());
          long first = -1;
          long total = 0;
          byte[] buf = new byte[65536];
          try (var in = r.body()) {
            for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
              if (first < 0) {
                first = System.nanoTime() - t0;
              }
              total += n;
            }
          }
          double s = (System.nanoTime() - t0) / 1e9;
          System.out.printf(Locale.ROOT, "round %d %-4s HTTP %d: %.1f MB in %.2f s = %.1f MB/s, first bytes after"
              + " %.0f ms%n", round, format, r.statusCode(), total / 1e6, s, total / 1e6 / s, first / 1e6);
        }
      }
    }
    System.exit(0); // the test JWKS server's dispatcher thread would keep the JVM alive
  }
}
