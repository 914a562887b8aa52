package io.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.MessageProperties;
import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Http;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code queue_length} comes from the broker in every role, labelled with the configured queue name, and API
 * processes report {@code workers_alive} from the workers' heartbeats; all read through /metrics.
 */
@IntegrationTest
class QueueAndWorkerMetricsTest {

  private static Double sample(String metrics, String name, String labels) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(labels.isEmpty() ? name : name + "{" + labels + "}") + " (\\S+)$").matcher(metrics);
    return m.find() ? Double.valueOf(m.group(1)) : null;
  }

  /** Polls /metrics until the sample exists and equals {@code expected} (or any value when null). */
  private static String awaitSample(String base, String name, String labels, Double expected) throws Exception {
    long deadline = System.currentTimeMillis() + 20_000;
    String body = "";
    while (System.currentTimeMillis() < deadline) {
      body = Http.get(base + "/metrics").body();
      Double value = sample(body, name, labels);
      if (value != null && (expected == null || value.equals(expected))) {
        return body;
      }
      Thread.sleep(250);
    }
    throw new AssertionError("no " + name + "{" + labels + "} = " + expected + " in:\n" + body);
  }

  private static void publishRaw(TestService service, int count) throws Exception {
    ConnectionFactory factory = new ConnectionFactory();
    factory.setHost(service.config().string("rabbitmq.host"));
    factory.setPort(service.config().integer("rabbitmq.port"));
    factory.setUsername(service.config().string("rabbitmq.user"));
    factory.setPassword(service.config().string("rabbitmq.password"));
    factory.setVirtualHost(service.config().string("rabbitmq.vhost"));
    String queue = service.config().string("jobs.queue");
    try (Connection c = factory.newConnection("osprey-test-metrics"); Channel channel = c.createChannel()) {
      channel.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
      channel.confirmSelect();
      for (int i = 0; i < count; i++) {
        channel.basicPublish("", queue, MessageProperties.PERSISTENT_BASIC,
            new JsonObject().put("job_id", "not-a-job-" + i).encode().getBytes(StandardCharsets.UTF_8));
      }
      channel.waitForConfirmsOrDie(5000);
    }
  }

  @Test
  void apiOnlyProcessReportsTheBrokersCountUnderTheConfiguredQueueName() throws Exception {
    try (TestService api = TestService.start(QueueAndWorkerMetricsTest.class, Role.API, new JsonObject())) {
      String queue = api.config().string("jobs.queue");
      publishRaw(api, 3); // nobody consumes in an API-only process
      String body = awaitSample(api.baseUrl(), "queue_length", "queue=\"" + queue + "\"", 3.0);
      assertFalse(body.contains("queue=\"inference\""), body);
      assertFalse(body.contains("queue_length{queue=\"" + queue + "\"} -1"), body);
      // No worker beats for this service: the API says so (what the "no worker heartbeat" alert watches).
      awaitSample(api.baseUrl(), "workers_alive", "", 0.0);
      // No GPU tool on this machine: the GPU series is absent, not 0.
      if (!GpuUtilization.available()) {
        assertFalse(body.contains("gpu_utilization_percent"), body);
      }
    }
  }

  @Test
  void workerOnlyProcessReportsQueueLengthAndTheApiCountsItsHeartbeat() throws Exception {
    try (TestService api = TestService.start(QueueAndWorkerMetricsTest.class, Role.API, new JsonObject())) {
      String queue = api.config().string("jobs.queue");
      OspreyApp worker = api.startPeer(Role.WORKER, new JsonObject());
      try {
        String workerBase = "http://127.0.0.1:" + worker.port();
        String body = awaitSample(workerBase, "queue_length", "queue=\"" + queue + "\"", null);
        assertTrue(sample(body, "queue_length", "queue=\"" + queue + "\"") >= 0, body);
        assertFalse(body.contains("queue=\"inference\""), body);
        // workers_alive is the API's view (Redis heartbeats); a worker-only process does not report it.
        assertFalse(body.contains("workers_alive"), body);
        awaitSample(api.baseUrl(), "workers_alive", "", 1.0);
      } finally {
        TestService.stop(worker);
      }
    }
  }
}
