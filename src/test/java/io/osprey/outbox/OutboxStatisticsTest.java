package io.osprey.outbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.OspreyApp;
import io.osprey.Role;
import io.osprey.testing.Fixtures;
import io.osprey.testing.IntegrationTest;
import io.osprey.testing.TestService;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/**
 * A backlog that the planner's statistics do not show (a table analyzed while empty, or never: after a burst or an
 * outage) made every batch's read scan and sort the whole outbox. The drainer refreshes the statistics when it meets
 * such a backlog, so that the reads after it come straight off the primary key.
 */
@IntegrationTest
class OutboxStatisticsTest {
  private static final String NULL_FRAC = "SELECT coalesce((SELECT round(null_frac * 100) FROM pg_stats"
      + " WHERE schemaname = current_schema() AND tablename = 'annotation_outbox' AND attname = 'publishing_id'), -1)";

  @Test
  void aBacklogTheStatisticsDoNotShowGetsTheTableAnalyzed() throws Exception {
    try (TestService service = TestService.start(OutboxStatisticsTest.class, Role.API,
        new JsonObject().put("outbox", new JsonObject().put("enabled", false)))) {
      try (var c = service.jdbc(); var s = c.createStatement()) {
        // Only the drainer may analyze the table in this test: autovacuum could do it at any moment otherwise.
        s.execute("ALTER TABLE annotation_outbox SET (autovacuum_enabled = false)");
      }
      for (int i = 0; i < 3; i++) {
        OutboxStreamTest.create(service.baseUrl(), Fixtures.uniqueJpeg(77_000 + i), "statistics");
      }
      try (var c = service.jdbc(); var s = c.createStatement()) {
        s.execute("INSERT INTO annotation_outbox (operation, annotation_ids, payload, created_at)"
            + " SELECT o.operation, o.annotation_ids, o.payload, o.created_at FROM annotation_outbox o,"
            + " generate_series(2, 100) g ORDER BY g, o.id");
      }
      assertEquals(300, service.count("SELECT count(*) FROM annotation_outbox"));
      assertEquals(-1, service.count(NULL_FRAC), "no statistics of publishing_id before the drain");

      OspreyApp drainer = service.startPeer(Role.API, new JsonObject().put("outbox", new JsonObject()
          .put("enabled", true).put("batch_size", 10)));
      try {
        OutboxStreamTest.waitOutboxEmpty(service, 60_000);
      } finally {
        TestService.stop(drainer);
      }
      long nullPercent = service.count(NULL_FRAC);
      assertTrue(nullPercent >= 50, "the drainer analyzed the outbox while its rows were mostly unleased: null_frac "
          + nullPercent + " %");
    }
  }
}
