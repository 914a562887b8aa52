package io.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The monitoring files of docker/ parse and are wired together: compose mounts the alert rules and Grafana's
 * provisioning, Prometheus loads the rules, the rules cover what the spec alerts on. (The PromQL itself is checked
 * by {@code promtool test rules docker/prometheus/alerts.test.yml} where promtool exists.)
 */
@UnitTest
class MonitoringFilesTest {
  private static final Path DOCKER = Path.of("docker");

  @SuppressWarnings("unchecked")
  private static Map<String, Object> yaml(String file) throws Exception {
    return (Map<String, Object>) new Yaml().load(Files.readString(DOCKER.resolve(file)));
  }

  @SuppressWarnings("unchecked")
  private static List<String> volumes(Map<String, Object> compose, String service) {
    Map<String, Object> services = (Map<String, Object>) compose.get("services");
    return (List<String>) ((Map<String, Object>) services.get(service)).get("volumes");
  }

  @Test
  @SuppressWarnings("unchecked")
  void prometheusLoadsAlertRulesForEveryFaultTheOpsTeamIsAlertedOf() throws Exception {
    Map<String, Object> compose = yaml("compose.yml");
    assertTrue(volumes(compose, "prometheus").contains("./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"));
    assertEquals(List.of("/etc/prometheus/alerts.yml"), yaml("prometheus.yml").get("rule_files"));
    List<Map<String, Object>> groups = (List<Map<String, Object>>) yaml("prometheus/alerts.yml").get("groups");
    Map<String, String> rules = groups.stream()
        .flatMap(g -> ((List<Map<String, Object>>) g.get("rules")).stream())
        .collect(Collectors.toMap(r -> (String) r.get("alert"), r -> (String) r.get("expr")));
    assertTrue(rules.get("OspreyDiskFull").contains("disk_free_bytes"));
    assertTrue(rules.get("OspreyJobFailureRateHigh").contains("inference_jobs_total{status=\"failed\"}"));
    assertTrue(rules.get("OspreyQueueNotDraining").contains("queue_length"));
    assertTrue(rules.get("OspreyOutboxLag").contains("outbox_oldest_row_age_seconds"));
    assertTrue(rules.get("OspreyNoOutboxLeader").contains("outbox_leader"));
    assertTrue(rules.get("OspreyNoWorkerHeartbeat").contains("workers_alive"));
    rules.values().forEach(expr -> assertFalse(expr.contains("queue=\"inference\""), expr));
  }

  @Test
  @SuppressWarnings("unchecked")
  void grafanaProvisionsTheDataSourceAndTheDashboardAtStart() throws Exception {
    List<String> mounts = volumes(yaml("compose.yml"), "grafana");
    assertTrue(mounts.contains("./grafana/provisioning:/etc/grafana/provisioning:ro"), mounts.toString());
    assertTrue(mounts.contains("./grafana/osprey-dashboard.json:/etc/grafana/dashboards/osprey-dashboard.json:ro"));
    Map<String, Object> source = ((List<Map<String, Object>>) yaml("grafana/provisioning/datasources/prometheus.yml")
        .get("datasources")).get(0);
    assertEquals("prometheus", source.get("type"));
    assertEquals("http://prometheus:9090", source.get("url"));
    Map<String, Object> provider = ((List<Map<String, Object>>) yaml("grafana/provisioning/dashboards/osprey.yml")
        .get("providers")).get(0);
    assertEquals("/etc/grafana/dashboards", ((Map<String, Object>) provider.get("options")).get("path"));
    // The dashboard's panels resolve ${DS_PROMETHEUS} through its own data source variable (no import step).
    String dashboard = Files.readString(DOCKER.resolve("grafana/osprey-dashboard.json"));
    io.vertx.core.json.JsonObject json = new io.vertx.core.json.JsonObject(dashboard);
    Set<String> variables = json.getJsonObject("templating").getJsonArray("list").stream()
        .map(v -> ((io.vertx.core.json.JsonObject) v).getString("name")).collect(Collectors.toSet());
    assertTrue(variables.contains("DS_PROMETHEUS"));
    assertFalse(dashboard.contains("queue=\\\"inference\\\""));
    assertTrue(dashboard.contains("gpu_utilization_percent"));
  }
}
