package io.osprey.jobs;

import io.osprey.testing.Broker;
import io.osprey.testing.IntegrationTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.Http;
import io.osprey.testing.Jobs;
import io.osprey.testing.Models;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Issue 15, item 1: a job that runs for many broker checks past the broker's consumer timeout of 5 s. The broker
 * checks unacknowledged deliveries once per channel tick (a minute by default; a second here, as in RabbitMQ's own
 * tests) and closes the channel of one held past the timeout; before leases that sent the job to a second worker
 * while the first still ran it. Two worker instances (each its own
 * Vert.x, broker connection and channel) consume the queue; the job completes once, one result per image, the
 * workers' {@code detection_count_total} grows by exactly the job's total, nothing touches the job in the ten
 * checks after it completed, and the workers' channels are the same ones at the end (the broker closed none). A control
 * consumer opened in the same window that never acknowledges has its channel closed by the broker: the timeout
 * was in effect on channels opened then.
 *
 * <p>The broker-wide timeout is lowered only until both workers consume (a channel reads it when it opens), then
 * restored to exactly what it was, so other tests sharing the broker meet the lowered value for seconds; the tick
 * stays lowered for the test (it only makes the broker look more often) and is restored after it.
 */
@IntegrationTest
class LongJobConsumerTimeoutTest {
  /**
   * The run time aimed at: past the 5 s timeout plus many broker checks. The broker checks unacknowledged deliveries
   * once per channel tick (rabbit's channel_tick_interval, a minute by default), lowered here to a second as
   * RabbitMQ's own consumer-timeout tests do, so a job of twenty seconds meets more than ten checks.
   */
  private static final long TARGET_MS = 20_000;
  /** The least run that counts: the 5 s timeout plus ten 1 s ticks. */
  private static final long MIN_RUN_MS = 15_000;
  private static final int TICK_MS = 1_000;
  // One upload holds at most 100 files (uploads.max_files); small slices make each photo cost enough.
  private static final int MAX_IMAGES = 100;

  private static String savedTimeout;
  private static String savedTick;
  private static boolean lowered;
  private static boolean tickLowered;

  /** Puts the broker's consumer_timeout back exactly as it was read ({@code undefined}: no value set). */
  private static synchronized void restoreTimeout() throws Exception {
    if (!lowered) {
      return;
    }
    if (savedTimeout.equals("undefined")) {
      Broker.ctl("eval", "application:unset_env(rabbit, consumer_timeout).");
    } else {
      String value = savedTimeout.replaceAll("^\\{ok,\\s*(.*)}$", "$1");
      Broker.ctl("eval", "application:set_env(rabbit, consumer_timeout, " + value + ").");
    }
    lowered = false;
    assertEquals(savedTimeout, Broker.ctl("eval", "application:get_env(rabbit, consumer_timeout)."),
        "broker consumer_timeout restored");
  }

  /** Puts channel_tick_interval back as it was read; lowered for the whole test, so every check runs each second. */
  private static synchronized void restoreTick() throws Exception {
    if (!tickLowered) {
      return;
    }
    if (savedTick.equals("undefined")) {
      Broker.ctl("eval", "application:unset_env(rabbit, channel_tick_interval).");
    } else {
      String value = savedTick.replaceAll("^\\{ok,\\s*(.*)}$", "$1");
      Broker.ctl("eval", "application:set_env(rabbit, channel_tick_interval, " + value + ").");
    }
    tickLowered = false;
    assertEquals(savedTick, Broker.ctl("eval", "application:get_env(rabbit, channel_tick_interval)."),
        "broker channel_tick_interval restored");
  }

  @AfterAll
  static void restoreBroker() throws Exception {
    restoreTimeout();
    restoreTick();
  }

  private static double detections(OspreyApp app) throws Exception {
    String body = Http.get("http://127.0.0.1:" + app.port() + "/metrics").body();
    double sum = 0;
    for (String line : body.split("\n")) {
      if (line.startsWith("detection_count_total")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  private static String predict(String base, int images, JsonObject config) throws Exception {
    Path bus = Fixtures.imagesDir().resolve("bus.jpg");
    JsonObject upload = Jobs.upload(base, Collections.nCopies(images, bus));
    var r = Jobs.predict(base, new JsonObject().put("upload_id", upload.getString("upload_id")).put("config", config));
    assertEquals(202, r.status(), r.body());
    return r.json().getJsonObject("data").getString("job_id");
  }

  @Test
  void aJobLongerThanTheBrokersConsumerTimeoutCompletesOnceAndIsNotTouchedAfterwards() throws Exception {
    Models.assumePresent();
    Broker.require();
    Fixtures.realImages();
    savedTimeout = Broker.ctl("eval", "application:get_env(rabbit, consumer_timeout).");
    savedTick = Broker.ctl("eval", "application:get_env(rabbit, channel_tick_interval).");
    Logger jobsLog = (Logger) LoggerFactory.getLogger("io.osprey.jobs");
    ListAppender<ILoggingEvent> log = new ListAppender<>();
    log.start();
    jobsLog.addAppender(log);
    TestService api = null;
    OspreyApp w1 = null;
    OspreyApp w2 = null;
    com.rabbitmq.client.Connection control = null;
    long loweredAt = System.currentTimeMillis();
    try {
      synchronized (LongJobConsumerTimeoutTest.class) {
        Broker.ctl("eval", "application:set_env(rabbit, channel_tick_interval, " + TICK_MS + ").");
        tickLowered = true;
        Broker.ctl("eval", "application:set_env(rabbit, consumer_timeout, 5000).");
        lowered = true;
      }
      api = TestService.start(LongJobConsumerTimeoutTest.class, Role.API, new JsonObject());
      String base = api.baseUrl();
      String queue = api.config().string("jobs.queue");
      w1 = api.startPeer(Role.WORKER, new JsonObject());
      w2 = api.startPeer(Role.WORKER, new JsonObject());
      long end = System.currentTimeMillis() + 60_000;
      while (Broker.queueColumn(queue, "consumers") != 2) {
        assertTrue(System.currentTimeMillis() < end, "both workers consuming");
        Thread.sleep(200);
      }
      Set<String> channels = Broker.consumerChannels(queue);
      assertEquals(2, channels.size(), channels.toString());

      // The control: a consumer that never acknowledges, on a channel opened under the lowered timeout too.
      com.rabbitmq.client.ConnectionFactory factory = new com.rabbitmq.client.ConnectionFactory();
      factory.setHost(api.config().string("rabbitmq.host"));
      factory.setPort(api.config().integer("rabbitmq.port"));
      factory.setUsername(api.config().string("rabbitmq.user"));
      factory.setPassword(api.config().string("rabbitmq.password"));
      factory.setVirtualHost(api.config().string("rabbitmq.vhost"));
      control = factory.newConnection("osprey-test-consumer-timeout-control");
      com.rabbitmq.client.Channel held = control.createChannel();
      AtomicReference<String> controlClosed = new AtomicReference<>();
      java.util.concurrent.atomic.AtomicLong controlClosedAt = new java.util.concurrent.atomic.AtomicLong();
      held.addShutdownListener(e -> {
        controlClosedAt.set(System.currentTimeMillis());
        controlClosed.set(e.getMessage());
      });
      String controlQueue = held.queueDeclare("osprey.test.ctl." + UUID.randomUUID(), false, true, true, null)
          .getQueue();
      held.basicPublish("", controlQueue, null, "never acknowledged".getBytes(StandardCharsets.UTF_8));
      held.basicConsume(controlQueue, false, (tag, delivery) -> { }, tag -> { });
      long controlSince = System.currentTimeMillis();
      restoreTimeout();
      long windowClosed = System.currentTimeMillis();

      // Size the job on this machine: seconds per image, measured on a short job first.
      JsonObject config = new JsonObject().put("model", "yolov8n_int8").put("visualization", false)
          .put("sahi", new JsonObject().put("slice_width", 160).put("slice_height", 160));
      String probe = predict(base, 3, config);
      assertEquals("completed", Jobs.waitFor(base, probe, 120_000, "completed", "failed").getString("status"));
      // Processing time alone (the runner's own timestamps), without the upload and queue hand-off around it.
      long perImage = Math.max(1, Long.parseLong(one(api, "SELECT (extract(epoch FROM completed_at - started_at)"
          + " * 1000)::bigint FROM jobs WHERE job_id = '" + probe + "'")) / 3);
      // A little more: the job may run faster than the probe did (a warm JIT, less load); if it still ends too soon,
      // a larger job follows below.
      int images = (int) Math.min(MAX_IMAGES, Math.max(3, (TARGET_MS * 6 / 5 + perImage - 1) / perImage));

      // Should the machine speed up so much that the job ends too soon after all, a larger one follows; everything
      // below is checked on the job that outlasted the timeout plus ten broker checks.
      double before;
      String jobId;
      JsonObject done;
      long ranMs;
      for (int attempt = 1; ; attempt++) {
        before = detections(w1) + detections(w2);
        long started = System.currentTimeMillis();
        String id = predict(base, images, config);
        // The delivery is acknowledged once the lease is taken: nothing of the job stays unacknowledged.
        end = System.currentTimeMillis() + 30_000;
        while (!"processing".equals(Jobs.status(base, id).getString("status"))
            || Broker.queueColumn(queue, "messages") != 0) {
          assertTrue(System.currentTimeMillis() < end, "job taken and its delivery acknowledged");
          Thread.sleep(200);
        }
        done = Jobs.waitFor(base, id, 600_000, "completed", "failed");
        ranMs = System.currentTimeMillis() - started;
        assertEquals("completed", done.getString("status"), done.encode());
        jobId = id;
        if (ranMs > MIN_RUN_MS) {
          break;
        }
        assertTrue(attempt < 3, "the job must outlast the timeout plus ten broker checks; ran " + ranMs + " ms");
        images = (int) Math.min(MAX_IMAGES, (long) images * (TARGET_MS * 5 / 4) / Math.max(1, ranMs) + 1);
      }
      // Read at once: the job's whole run is what must not have cost a channel.
      assertEquals(channels, Broker.consumerChannels(queue), "the broker closed no worker channel while the job ran");
      long total = done.getJsonObject("summary").getLong("total_detections");
      assertTrue(total > 0, "the photos have objects: " + done.encode());

      String job = jobId;
      String where = " FROM jobs WHERE job_id = '" + job + "'";
      String rowBefore = one(api, "SELECT concat_ws('|', status, attempts, lease_expiries, completed_at, updated_at,"
          + " processed_images, lease_owner)" + where);
      long doneAt = System.currentTimeMillis();
      // Ten broker checks after completion: any second delivery would have been made and run by now.
      Thread.sleep(10L * TICK_MS);
      assertEquals(rowBefore, one(api, "SELECT concat_ws('|', status, attempts, lease_expiries, completed_at,"
          + " updated_at, processed_images, lease_owner)" + where), "the job row unchanged after completion");
      assertEquals("1", one(api, "SELECT attempts" + where), "taken once");
      assertEquals(String.valueOf(images), one(api, "SELECT count(*) FROM job_results WHERE job_id = '" + jobId
          + "'"));
      assertEquals(String.valueOf(images), one(api, "SELECT count(DISTINCT file_id) FROM job_results WHERE job_id = '"
          + jobId + "'"), "one result per image");
      assertEquals(total, Long.parseLong(one(api, "SELECT sum(detection_count) FROM job_results WHERE job_id = '"
          + jobId + "'")));
      double grown = detections(w1) + detections(w2) - before;
      assertEquals((double) total, grown, 0.0, "detection_count_total over both workers grew by the job's total");

      List<ILoggingEvent> events;
      synchronized (log) {
        events = new ArrayList<>(log.list);
      }
      List<String> late = events.stream().filter(e -> e.getTimeStamp() > doneAt)
          .map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(job)).toList();
      assertEquals(List.of(), late, "no worker logs about the job after it completed");
      long drops = events.stream().map(ILoggingEvent::getFormattedMessage)
          .filter(m -> m.contains(job) && m.contains("delivery dropped")).count();
      assertEquals(0, drops, "no second delivery of the job reached a worker");

      end = controlSince + 15_000;
      while (controlClosed.get() == null && System.currentTimeMillis() < end) {
        Thread.sleep(200);
      }
      // Closed within seconds, not a minute: the lowered tick was in effect, so the long job met a check each second.
      assertNotNull(controlClosed.get(), "the control channel (never acknowledging) was closed by the broker within"
          + " 15 s of its delivery (the 5 s timeout plus a few 1 s ticks; the default tick alone is 60 s)");
      assertTrue(controlClosed.get().contains("timed out"), controlClosed.get());
      long controlClosedAfter = controlClosedAt.get() - controlSince;
      System.out.printf("[fault] long job past the consumer timeout: %d images in %.1f s (%d ms/image) under consumer_timeout 5000 ms (lowered for"
              + " %.1f s); completed once, attempts 1, %d results, %d detections = detection_count_total growth %.0f;"
              + " worker channels kept %s; control channel closed by the broker after %.1f s: %s%n", images, ranMs / 1000.0,
          perImage, (windowClosed - loweredAt) / 1000.0, images, total, grown, channels,
          controlClosedAfter / 1000.0, controlClosed.get());
    } finally {
      restoreTimeout();
      restoreTick();
      jobsLog.detachAppender(log);
      if (control != null && control.isOpen()) {
        control.close();
      }
      if (w1 != null) {
        TestService.stop(w1);
      }
      if (w2 != null) {
        TestService.stop(w2);
      }
      if (api != null) {
        api.close();
      }
    }
  }

  private static String one(TestService service, String sql) throws Exception {
    try (var c = service.jdbc(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }
}
