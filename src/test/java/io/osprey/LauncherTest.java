package io.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.IntegrationTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@IntegrationTest
class LauncherTest {
  @Test
  void roleDefaultsToAllAndAcceptsBothSpellings() {
    assertEquals(Role.ALL, Launcher.parseRole(new String[0]));
    assertEquals(Role.API, Launcher.parseRole(new String[] {"--role", "api"}));
    assertEquals(Role.WORKER, Launcher.parseRole(new String[] {"--role=WORKER"}));
    assertNull(Launcher.parseRole(new String[] {"--help"}));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Launcher.parseRole(new String[] {"--role", "gpu"}));
    assertTrue(e.getMessage().contains("api, worker or all"));
  }

  @Test
  void badConfigurationStopsTheProcessWithOneLineNamingTheKey() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName()));
    pb.environment().put("OSPREY_UPLOADS_MAX_FILES", "lots");
    pb.redirectErrorStream(false);
    Process p = pb.start();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertEquals(78, p.exitValue(), err);
    List<String> lines = err.lines().toList();
    assertEquals(1, lines.size(), err);
    assertTrue(lines.get(0).contains("uploads.max_files") && lines.get(0).contains("OSPREY_UPLOADS_MAX_FILES"),
        lines.get(0));
  }
}
