package io.osprey.outbox;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SQL of the drain side of annotation_outbox and of outbox_producers (the annotations package writes the rows).
 * Only the drainer holding the advisory lock calls the mutating methods, so "assign the next ids" needs no more
 * than one transaction.
 */
public final class OutboxRepository {
  private final Pool pool;

  public OutboxRepository(Pool pool) {
    this.pool = pool;
  }

  public record OutboxRow(long id, String operation, List<String> annotationIds, JsonObject payload,
                          Long publishingId, OffsetDateTime createdAt) {
    static OutboxRow of(Row r) {
      return new OutboxRow(r.getLong("id"), r.getString("operation"), Arrays.asList(r.getArrayOfStrings(
          "annotation_ids")), (JsonObject) r.getJson("payload"), r.getLong("publishing_id"),
          r.getOffsetDateTime("created_at"));
    }
  }

  /** What a Created message needs of its annotation; absent when the row was purged meanwhile. */
  public record AnnotationInfo(String id, String imageFormat, String filesState, String name, String source,
                               String createdBy) {
  }

  private static final String COLUMNS = "id, operation, annotation_ids, payload, publishing_id, created_at";

  /** Rows leased before (they carry a publishing id) and not yet deleted: a crash left them; publish them first. */
  public Future<List<OutboxRow>> leased(int limit) {
    return pool.preparedQuery("SELECT " + COLUMNS + " FROM annotation_outbox WHERE publishing_id IS NOT NULL"
        + " ORDER BY publishing_id LIMIT $1").execute(Tuple.of(limit)).map(OutboxRepository::rows);
  }

  /**
   * The next rows to publish, oldest first: not held, and with no earlier held row about the same annotations
   * (so a held row also holds what follows it for its annotations: order per annotation is kept). Held rows are
   * few and read on their own; the candidates come straight off the primary key.
   */
  public Future<List<OutboxRow>> next(int limit) {
    Future<List<Object[]>> held = pool.query("SELECT id, annotation_ids FROM annotation_outbox"
        + " WHERE held_until > now()").execute().map(rs -> {
          List<Object[]> out = new ArrayList<>();
          rs.forEach(r -> out.add(new Object[] {r.getLong("id"), Arrays.asList(r.getArrayOfStrings("annotation_ids"))}));
          return out;
        });
    return held.compose(h -> pool.preparedQuery("SELECT " + COLUMNS + " FROM annotation_outbox"
            + " WHERE publishing_id IS NULL AND (held_until IS NULL OR held_until <= now()) ORDER BY id LIMIT $1")
        .execute(Tuple.of(limit)).map(rs -> {
          List<OutboxRow> out = new ArrayList<>();
          for (OutboxRow row : rows(rs)) {
            boolean blocked = false;
            for (Object[] heldRow : h) {
              @SuppressWarnings("unchecked")
              List<String> ids = (List<String>) heldRow[1];
              if ((Long) heldRow[0] < row.id() && ids.stream().anyMatch(row.annotationIds()::contains)) {
                blocked = true;
                break;
              }
            }
            if (!blocked) {
              out.add(row);
            }
          }
          return out;
        }));
  }

  /**
   * Gives {@code ids}, in this order, the next publishing ids of {@code producer}, never below
   * {@code brokerLast + 1} (the broker's memory of the producer wins over a database that was reset).
   */
  public Future<Map<Long, Long>> assign(String producer, List<Long> ids, long brokerLast) {
    if (ids.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    return pool.withTransaction(tx -> tx.preparedQuery("INSERT INTO outbox_producers (name, last_publishing_id)"
            + " VALUES ($1, GREATEST($3, 0) + $2) ON CONFLICT (name) DO UPDATE SET last_publishing_id ="
            + " GREATEST(outbox_producers.last_publishing_id, $3) + $2 RETURNING last_publishing_id")
        .execute(Tuple.of(producer, (long) ids.size(), brokerLast))
        .compose(rows -> {
          long last = rows.iterator().next().getLong(0);
          long first = last - ids.size() + 1;
          Map<Long, Long> out = new HashMap<>();
          for (int i = 0; i < ids.size(); i++) {
            out.put(ids.get(i), first + i);
          }
          return tx.preparedQuery("UPDATE annotation_outbox SET publishing_id = $2::bigint + array_position($1, id)"
                  + " - 1, held_until = NULL, held_reason = NULL WHERE id = ANY($1) AND publishing_id IS NULL")
              .execute(Tuple.of(ids.toArray(Long[]::new), first))
              .map(r -> out);
        }));
  }

  public Future<Void> hold(long id, double seconds, String reason) {
    return pool.preparedQuery("UPDATE annotation_outbox SET held_until = now() + make_interval(secs => $2),"
        + " held_reason = $3 WHERE id = $1").execute(Tuple.of(id, seconds, reason)).mapEmpty();
  }

  public Future<Void> delete(List<Long> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("DELETE FROM annotation_outbox WHERE id = ANY($1)")
        .execute(Tuple.of((Object) ids.toArray(Long[]::new))).mapEmpty();
  }

  /**
   * Rows whose publish failed lose their publishing id and get a new, higher one next time: re-sending one under
   * its old id could be dropped by the broker as a duplicate if a later id of the same batch got through.
   */
  public Future<Void> release(List<Long> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("UPDATE annotation_outbox SET publishing_id = NULL WHERE id = ANY($1)")
        .execute(Tuple.of((Object) ids.toArray(Long[]::new))).mapEmpty();
  }

  public Future<Map<String, AnnotationInfo>> annotations(List<String> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    return pool.preparedQuery("SELECT id, image_format, files_state, name, source, created_by FROM annotations"
            + " WHERE id = ANY($1)").execute(Tuple.of((Object) ids.toArray(String[]::new)))
        .map(rows -> {
          Map<String, AnnotationInfo> out = new HashMap<>();
          rows.forEach(r -> out.put(r.getString("id"), new AnnotationInfo(r.getString("id"),
              r.getString("image_format"), r.getString("files_state"), r.getString("name"), r.getString("source"),
              r.getString("created_by"))));
          return out;
        });
  }

  /** Pending rows and the age of the oldest, for the metrics. */
  public record Backlog(long pending, double oldestSeconds) {
  }

  public Future<Backlog> backlog() {
    return pool.query("SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)"
            + " FROM annotation_outbox").execute()
        .map(rows -> {
          Row r = rows.iterator().next();
          return new Backlog(r.getLong(0), r.getNumeric(1).doubleValue());
        });
  }

  private static List<OutboxRow> rows(io.vertx.sqlclient.RowSet<Row> rs) {
    List<OutboxRow> out = new ArrayList<>();
    rs.forEach(r -> out.add(OutboxRow.of(r)));
    return out;
  }
}
