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

  /**
   * One outbox row, with what a Created message needs of its annotation ({@code annotation} is null for bulk rows
   * and when the annotation was purged meanwhile).
   */
  public record OutboxRow(long id, String operation, List<String> annotationIds, JsonObject payload,
                          Long publishingId, OffsetDateTime createdAt, AnnotationInfo annotation) {
    static OutboxRow of(Row r) {
      String annotationId = r.getString("a_id");
      return new OutboxRow(r.getLong("id"), r.getString("operation"), Arrays.asList(r.getArrayOfStrings(
          "annotation_ids")), (JsonObject) r.getJson("payload"), r.getLong("publishing_id"),
          r.getOffsetDateTime("created_at"), annotationId == null ? null : new AnnotationInfo(annotationId,
              r.getString("image_format"), r.getString("files_state"), r.getString("name"), r.getString("source"),
              r.getString("created_by")));
    }
  }

  /** What a Created message needs of its annotation. */
  public record AnnotationInfo(String id, String imageFormat, String filesState, String name, String source,
                               String createdBy) {
  }

  /** The rows of {@code rows} (a subquery aliased o), each with its annotation when it names exactly one. */
  private static String withAnnotation(String rows, String order) {
    // The annotations are looked up by an id array (an index scan): joined on annotation_ids[1] directly, the
    // planner hashes the whole annotations table.
    return "o AS MATERIALIZED (" + rows + ") SELECT o.id, o.operation, o.annotation_ids, o.payload,"
        + " o.publishing_id, o.created_at, a.id AS a_id, a.image_format, a.files_state, a.name, a.source,"
        + " a.created_by FROM o LEFT JOIN (SELECT * FROM annotations WHERE id = ANY (ARRAY(SELECT"
        + " annotation_ids[1] FROM o WHERE cardinality(annotation_ids) = 1))) a"
        + " ON cardinality(o.annotation_ids) = 1 AND a.id = o.annotation_ids[1] ORDER BY " + order;
  }

  /**
   * Rows leased before (they carry a publishing id) and not yet deleted: a crash or a failed round left them;
   * publish them first, under the same ids. One statement.
   */
  public Future<List<OutboxRow>> leased(int limit) {
    return pool.preparedQuery("WITH " + withAnnotation("SELECT * FROM annotation_outbox"
            + " WHERE publishing_id IS NOT NULL ORDER BY publishing_id LIMIT $1", "o.publishing_id"))
        .execute(Tuple.of(limit))
        .map(OutboxRepository::rows);
  }

  /**
   * The next rows to publish, oldest first, with their annotations: not leased, not held, and with no earlier held
   * row about the same annotations (so a held row also holds what follows it for its annotations: order per
   * annotation is kept). The held rows are few and read on their own, at the same time as the candidates, which
   * come straight off the primary key: in one statement, the planner (misled by the statistics of a backlog)
   * turned the anti-join into a parallel scan and sort of the whole table and took 100-200 ms.
   */
  public Future<List<OutboxRow>> next(int limit) {
    Future<List<Object[]>> held = pool.query("SELECT id, annotation_ids FROM annotation_outbox"
        + " WHERE held_until > now()").execute().map(rs -> {
          List<Object[]> out = new ArrayList<>();
          rs.forEach(r -> out.add(new Object[] {r.getLong("id"),
              Arrays.asList(r.getArrayOfStrings("annotation_ids"))}));
          return out;
        });
    Future<List<OutboxRow>> candidates = pool.preparedQuery("WITH " + withAnnotation("SELECT * FROM"
            + " annotation_outbox WHERE publishing_id IS NULL AND (held_until IS NULL OR held_until <= now())"
            + " ORDER BY id LIMIT $1", "o.id"))
        .execute(Tuple.of(limit)).map(OutboxRepository::rows);
    return Future.all(held, candidates).map(x -> {
      List<Object[]> h = held.result();
      if (h.isEmpty()) {
        return candidates.result();
      }
      List<OutboxRow> out = new ArrayList<>();
      for (OutboxRow row : candidates.result()) {
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
    });
  }

  /**
   * Gives {@code ids}, in this order, the next publishing ids of {@code producer}, never below
   * {@code brokerLast + 1} (the broker's memory of the producer wins over a database that was reset). One
   * statement (so one transaction): the counter moves and the rows take their ids together.
   */
  public Future<Map<Long, Long>> assign(String producer, List<Long> ids, long brokerLast) {
    if (ids.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    return pool.preparedQuery("WITH counter AS (INSERT INTO outbox_producers AS p (name, last_publishing_id)"
            + " VALUES ($1, GREATEST($3, 0) + $2) ON CONFLICT (name) DO UPDATE SET last_publishing_id ="
            + " GREATEST(p.last_publishing_id, $3) + $2 RETURNING last_publishing_id)"
            + " UPDATE annotation_outbox o SET publishing_id = c.last_publishing_id - $2 + u.n, held_until = NULL,"
            + " held_reason = NULL FROM counter c, unnest($4::bigint[]) WITH ORDINALITY AS u(id, n)"
            + " WHERE o.id = u.id AND o.publishing_id IS NULL RETURNING o.id, o.publishing_id")
        .execute(Tuple.of(producer, (long) ids.size(), brokerLast, ids.toArray(Long[]::new)))
        .map(rows -> {
          Map<Long, Long> out = new HashMap<>();
          rows.forEach(r -> out.put(r.getLong(0), r.getLong(1)));
          return out;
        });
  }

  /**
   * A row to hold back: for how long, and why; with {@code whileFilesPending}, only if its annotation's files are
   * still being written when the hold is written (else the completion, which clears such holds, may have come
   * between reading the row and holding it, and the row would wait for nothing). The annotation row is locked
   * (FOR SHARE) while the hold is written, so a completion either comes after the hold and clears it, or before,
   * and the hold is not written.
   */
  public record Hold(long id, double seconds, String reason, boolean whileFilesPending) {
  }

  /** Holds rows (not leased: they carry no publishing id), all in one statement. */
  public Future<Void> hold(List<Hold> holds) {
    if (holds.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("UPDATE annotation_outbox o SET held_until = now() + make_interval(secs => h.secs),"
            + " held_reason = h.reason FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::bool[])"
            + " AS h(id, secs, reason, files) WHERE o.id = h.id AND (NOT h.files OR EXISTS (SELECT 1 FROM"
            + " annotations a WHERE a.id = o.annotation_ids[1] AND a.files_state = 'pending' FOR SHARE))")
        .execute(Tuple.of(holds.stream().map(Hold::id).toArray(Long[]::new),
            holds.stream().map(Hold::seconds).toArray(Double[]::new),
            holds.stream().map(Hold::reason).toArray(String[]::new),
            holds.stream().map(Hold::whileFilesPending).toArray(Boolean[]::new)))
        .mapEmpty();
  }

  public Future<Void> delete(List<Long> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("DELETE FROM annotation_outbox WHERE id = ANY($1)")
        .execute(Tuple.of((Object) ids.toArray(Long[]::new))).mapEmpty();
  }

  /**
   * Rows that certainly never reached the broker lose their publishing id and get a new, higher one next time:
   * re-sending one under its old id could be dropped by the broker as a duplicate if a later id got through. (Rows
   * whose fate is unknown keep theirs: see OutboxVerticle#settle.)
   */
  public Future<Void> release(List<Long> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("UPDATE annotation_outbox SET publishing_id = NULL WHERE id = ANY($1)")
        .execute(Tuple.of((Object) ids.toArray(Long[]::new))).mapEmpty();
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
