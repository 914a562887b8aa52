package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.ChunkedBody;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Results exports are streamed: a large job's export is sent in chunks while it is made, its result files read only
 * as the client takes the bytes, and what arrives is still exactly the document the format defines. Jobs are
 * written straight into the database and storage ({@link StoredJobs}); no model runs.
 */
@IntegrationTest
@Timeout(120)
class ResultsExportStreamingTest {
  private static final char[] ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".toCharArray();
  private static TestService service;
  private static URI base;

  @BeforeAll
  static void start() throws Exception {
    service = TestService.start(ResultsExportStreamingTest.class);
    base = URI.create(service.baseUrl());
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  /**
   * 200 images with 100 KB label files each (about 15 MB of zip, far more than the socket buffers between server
   * and client hold). The client reads the first bytes and stops; label files of images 120 on are then replaced.
   * A server that built the zip before sending would have read the old files; a streaming one, held back by the
   * client, reads them only now. The zip is complete and valid either way.
   */
  @Test
  void aLargeYoloExportIsSentChunkedAndReadsLabelFilesOnlyAsTheClientTakesTheZip() throws Exception {
    int images = 200;
    int replacedFrom = 120;
    List<String> names = new ArrayList<>();
    for (int i = 0; i < images; i++) {
      names.add("aerial-" + i + ".jpg");
    }
    Map<Integer, String> labels = new HashMap<>();
    StoredJobs.Job job = StoredJobs.insert(service, UUID.randomUUID().toString(), names, (i, name) -> {
      String text = noise(new Random(i), 100_000);
      labels.put(i, text);
      return new StoredJobs.Content(text, StoredJobs.detections(new Random(i), 3), null);
    });

    try (Socket socket = new Socket()) {
      // A small receive window, so what the server may send ahead of the client is bounded by its own buffers.
      socket.setReceiveBufferSize(16 * 1024);
      socket.connect(new java.net.InetSocketAddress(base.getHost(), base.getPort()), 5000);
      Response response = get(socket, "/api/v1/jobs/" + job.jobId() + "/results?format=yolo");
      assertEquals(200, response.status);
      assertEquals("application/zip", response.headers.get("content-type"));
      assertEquals("attachment; filename=\"" + job.jobId() + "-yolo.zip\"",
          response.headers.get("content-disposition"));
      assertEquals("chunked", response.headers.get("transfer-encoding"));
      assertNull(response.headers.get("content-length"), "a streamed export has no length up front");

      byte[] head = response.body.readNBytes(64 * 1024);
      assertEquals(64 * 1024, head.length);
      // Time for a server that ignored backpressure to run ahead and read every file (no condition to await: a
      // correct server shows nothing while it waits). The pause sets how sensitive the test is, never whether a
      // correct server passes; 5 s caught a server ignoring writeQueueFull on a heavily loaded 2-core machine,
      // 1 s did not.
      Thread.sleep(5000);
      for (int i = replacedFrom; i < images; i++) {
        StoredJobs.write(job.images().get(i).predictions(),
            ("replaced after the client paused " + i + "\n").getBytes(StandardCharsets.UTF_8));
      }

      Map<String, byte[]> entries = unzip(new SequenceInputStream(new ByteArrayInputStream(head), response.body));
      assertEquals(images + 1, entries.size(), entries.keySet().toString());
      for (int i = 0; i < images; i++) {
        byte[] expected = i < replacedFrom ? labels.get(i).getBytes(StandardCharsets.UTF_8)
            : ("replaced after the client paused " + i + "\n").getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(expected, entries.get("labels/aerial-" + i + ".txt"), "labels of image " + i);
      }
      assertEquals("0 car\n2 person\n4 truck\n6 bicyclette\n8 voilier ⛵\n",
          new String(entries.get("classes.txt"), StandardCharsets.UTF_8));
    }
  }

  /** The export fails after its first chunk went out: the client must see a cut-off body, not a shorter zip. */
  @Test
  void aResultFileMissingAfterTheFirstChunkCutsTheExportOff() throws Exception {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      names.add("pass-" + i + ".png");
    }
    StoredJobs.Job job = StoredJobs.insert(service, UUID.randomUUID().toString(), names, (i, name) ->
        new StoredJobs.Content(noise(new Random(i), 50_000), StoredJobs.detections(new Random(i), 2), null));
    Files.delete(job.images().get(40).detections());

    try (Socket socket = new Socket(base.getHost(), base.getPort())) {
      Response response = get(socket, "/api/v1/jobs/" + job.jobId() + "/results?format=yolo");
      assertEquals(200, response.status);
      assertEquals("chunked", response.headers.get("transfer-encoding"));
      List<String> received = new ArrayList<>();
      assertThrows(IOException.class, () -> {
        try (ZipInputStream zip = new ZipInputStream(response.body)) {
          for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
            zip.readAllBytes();
            received.add(e.getName());
          }
        }
      });
      assertTrue(received.size() >= 1 && received.size() <= 41, received.toString());
      assertEquals("labels/pass-0.txt", received.get(0));
    }
  }

  /**
   * JSON and COCO of a job spanning several pages of rows and many chunks, and of one fitting a single chunk, are
   * exactly the documents built whole; the small one still goes out with its Content-Length.
   */
  @Test
  void jsonAndCocoExportsAreTheWholeDocumentByteForByte() throws Exception {
    for (int images : List.of(3, 450)) {
      List<String> names = new ArrayList<>();
      for (int i = 0; i < images; i++) {
        names.add(i % 9 == 0 ? "été #" + i + ".jpg" : "tile-" + i + ".tif");
      }
      Map<Integer, StoredJobs.Content> contents = new HashMap<>();
      StoredJobs.Job job = StoredJobs.insert(service, UUID.randomUUID().toString(), names, (i, name) -> {
        Random random = new Random(i);
        JsonArray detections = StoredJobs.detections(random, i % 4 == 0 ? 0 : random.nextInt(30));
        StoredJobs.Content c = new StoredJobs.Content(StoredJobs.yoloLines(detections), detections,
            i % 3 == 0 ? StoredJobs.detections(random, 2) : null);
        contents.put(i, c);
        return c;
      });
      JsonObject stored = io.osprey.testing.Http.get(base + "/api/v1/jobs/" + job.jobId() + "/status").json();

      JsonArray results = new JsonArray();
      JsonArray cocoImages = new JsonArray();
      JsonArray annotations = new JsonArray();
      Map<Integer, String> categories = new TreeMap<>();
      for (int i = 0; i < images; i++) {
        StoredJobs.Image image = job.images().get(i);
        StoredJobs.Content c = contents.get(i);
        JsonObject entry = new JsonObject().put("file_id", image.fileId()).put("filename", image.filename())
            .put("width", image.width()).put("height", image.height())
            .put("detection_count", c.detections().size()).put("detections", c.detections());
        if (c.suppressed() != null) {
          entry.put("suppressed", c.suppressed());
        }
        results.add(entry);
        cocoImages.add(new JsonObject().put("id", i + 1).put("file_name", image.filename())
            .put("width", image.width()).put("height", image.height()).put("osprey_file_id", image.fileId()));
        for (Object o : c.detections()) {
          JsonObject d = (JsonObject) o;
          JsonObject b = d.getJsonObject("bbox");
          categories.put(d.getInteger("class_id") + 1, d.getString("class_name"));
          annotations.add(new JsonObject().put("id", annotations.size() + 1).put("image_id", i + 1)
              .put("category_id", d.getInteger("class_id") + 1)
              .put("bbox", new JsonArray().add(b.getDouble("x1")).add(b.getDouble("y1")).add(b.getDouble("width"))
                  .add(b.getDouble("height")))
              .put("area", Math.round(b.getDouble("width") * b.getDouble("height") * 10) / 10.0)
              .put("score", d.getDouble("confidence")).put("iscrowd", 0));
        }
      }
      JsonArray cats = new JsonArray();
      categories.forEach((id, name) -> cats.add(new JsonObject().put("id", id).put("name", name)
          .put("supercategory", "object")));
      String json = new JsonObject().put("job_id", job.jobId()).put("format", "json").put("status", "completed")
          .put("summary", stored.getJsonObject("summary")).put("results", results).encode();
      String coco = new JsonObject()
          .put("info", new JsonObject().put("description", "Osprey detection job " + job.jobId())
              .put("date_created", stored.getString("completed_at")))
          .put("images", cocoImages).put("annotations", annotations).put("categories", cats).encode();

      for (Map.Entry<String, String> format : Map.of("json", json, "coco", coco).entrySet()) {
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
          Response response = get(socket, "/api/v1/jobs/" + job.jobId() + "/results?format=" + format.getKey());
          assertEquals(200, response.status);
          assertEquals("application/json; charset=utf-8", response.headers.get("content-type"));
          byte[] body = response.body.readAllBytes();
          assertEquals(format.getValue(), new String(body, StandardCharsets.UTF_8), format.getKey() + ", " + images
              + " images");
          if (images == 3) {
            assertEquals(Integer.toString(body.length), response.headers.get("content-length"));
            assertNull(response.headers.get("transfer-encoding"));
          } else {
            assertEquals("chunked", response.headers.get("transfer-encoding"));
          }
        }
      }
    }
  }

  private static String noise(Random random, int length) {
    char[] text = new char[length];
    for (int i = 0; i < length; i++) {
      text[i] = (i + 1) % 64 == 0 ? '\n' : ALPHABET[random.nextInt(ALPHABET.length)];
    }
    return new String(text);
  }

  private static Map<String, byte[]> unzip(InputStream in) throws IOException {
    Map<String, byte[]> entries = new HashMap<>();
    try (ZipInputStream zip = new ZipInputStream(in)) {
      for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
        entries.put(e.getName(), zip.readAllBytes());
      }
    }
    return entries;
  }

  /** A response read off the socket as sent: status, headers (lower-case names) and the decoded body. */
  private record Response(int status, Map<String, String> headers, InputStream body) {
  }

  /** HTTP/1.1 by hand, so the test sees the transfer encoding and controls how fast the body is read. */
  private static Response get(Socket socket, String path) throws IOException {
    socket.setSoTimeout(30_000);
    OutputStream out = socket.getOutputStream();
    out.write(("GET " + path + " HTTP/1.1\r\nHost: " + base.getHost() + ":" + base.getPort()
        + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = new BufferedInputStream(socket.getInputStream());
    String statusLine = ChunkedBody.line(in);
    int status = Integer.parseInt(statusLine.split(" ")[1]);
    Map<String, String> headers = new HashMap<>();
    for (String h = ChunkedBody.line(in); !h.isEmpty(); h = ChunkedBody.line(in)) {
      int colon = h.indexOf(':');
      headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
    }
    InputStream body = "chunked".equals(headers.get("transfer-encoding")) ? new ChunkedBody(in)
        : new ByteArrayInputStream(in.readNBytes(Integer.parseInt(headers.get("content-length"))));
    return new Response(status, headers, body);
  }
}
