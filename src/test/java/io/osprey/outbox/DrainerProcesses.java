package io.osprey.outbox;

import io.osprey.Role;
import io.osprey.testing.TestService;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Drainers in processes of their own, on a test service's database, stream and storage (the crash tests halt one as
 * abruptly as SIGKILL). Each process logs to a file of its own; closing kills what is still running and deletes the
 * logs.
 */
final class DrainerProcesses implements AutoCloseable {
  private final TestService service;
  private final List<Process> processes = new ArrayList<>();
  private final List<Path> logs = new ArrayList<>();

  DrainerProcesses(TestService service) {
    this.service = service;
  }

  /**
   * Starts a drainer with {@code env} on top of the service's configuration; with {@code crashAt}, it halts at that
   * crash point (io.osprey.annotations.CrashPoints).
   */
  Process start(String crashAt, Map<String, String> env) throws IOException {
    Map<String, String> all = new HashMap<>(env);
    all.put("OSPREY_HTTP_PORT", Integer.toString(freePort()));
    all.put("OSPREY_OUTBOX_ENABLED", "true");
    if (crashAt != null) {
      all.put("OSPREY_TEST_CRASH_AT", crashAt);
    }
    Path log = Files.createTempFile("osprey-drainer-", ".log");
    logs.add(log);
    Process p = service.spawn(Role.API, all, log);
    processes.add(p);
    return p;
  }

  /** The log of the {@code i}-th drainer started. */
  String log(int i) throws IOException {
    return Files.readString(logs.get(i));
  }

  int started() {
    return processes.size();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() throws Exception {
    for (Process p : processes) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
    for (Path l : logs) {
      Files.deleteIfExists(l);
    }
  }
}
