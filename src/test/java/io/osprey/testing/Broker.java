package io.osprey.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * The local RabbitMQ seen through {@code rabbitmqctl}: what the broker itself says about queues and consumers, and
 * its runtime settings. Tests that need it call {@link #require()}: skipped where the broker cannot be controlled,
 * a failure under {@code CI=true}.
 */
public final class Broker {
  private Broker() {
  }

  /** Runs {@code rabbitmqctl -q ARGS}; fails the test on a non-zero exit. Returns the trimmed output. */
  public static String ctl(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("rabbitmqctl", "-q"));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "rabbitmqctl " + command);
    assertEquals(0, p.exitValue(), "rabbitmqctl " + command + ": " + out);
    return out;
  }

  /** Whether this machine's broker answers {@code rabbitmqctl}; skips (or, under CI, fails) the test if not. */
  public static void require() {
    boolean works;
    try {
      ctl("status");
      works = true;
    } catch (Throwable e) {
      works = false;
    }
    Assets.require(works, "rabbitmqctl cannot control the local broker");
  }

  /** One column of {@code list_queues} (messages, consumers, ...) for {@code queue}; -1 when the queue is absent. */
  public static long queueColumn(String queue, String column) throws Exception {
    for (String line : ctl("list_queues", "name", column).split("\n")) {
      String[] f = line.trim().split("\t");
      if (f.length == 2 && f[0].equals(queue)) {
        return Long.parseLong(f[1]);
      }
    }
    return -1;
  }

  /** The broker's channel pids of the consumers on {@code queue}. */
  public static Set<String> consumerChannels(String queue) throws Exception {
    Set<String> channels = new TreeSet<>();
    for (String line : ctl("list_consumers", "queue_name", "channel_pid").split("\n")) {
      String[] f = line.trim().split("\t");
      if (f.length == 2 && f[0].equals(queue)) {
        channels.add(f[1]);
      }
    }
    return channels;
  }
}
