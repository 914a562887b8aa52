package io.osprey.annotations;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The admin-managed detection classes (RB-06) with a read-through cache; changes NOTIFY every instance, which
 * drops its copy (the same pattern as {@link PathResolver#reset()}).
 */
public final class ClassCatalog {
  public static final String CHANNEL_PAYLOAD = "classes";

  public record DetectionClass(int id, String name, String shortName, String color) {
    public JsonObject toJson() {
      return new JsonObject().put("id", id).put("name", name).put("shortName", shortName).put("color", color);
    }
  }

  /** Why a change was refused. */
  public enum Outcome { OK, NOT_FOUND, EXISTS, IN_USE }

  public record Change(Outcome outcome, DetectionClass value, long uses) {
  }

  private final Pool pool;
  private volatile Future<Map<Integer, DetectionClass>> current;

  public ClassCatalog(Pool pool) {
    this.pool = pool;
  }

  public Future<Map<Integer, DetectionClass>> get() {
    Future<Map<Integer, DetectionClass>> f = current;
    if (f == null || f.failed()) {
      f = pool.query("SELECT id, name, short_name, color FROM detection_classes ORDER BY id").execute().map(rows -> {
        Map<Integer, DetectionClass> out = new LinkedHashMap<>();
        rows.forEach(r -> out.put(r.getInteger("id"), new DetectionClass(r.getInteger("id"), r.getString("name"),
            r.getString("short_name"), r.getString("color"))));
        return java.util.Collections.unmodifiableMap(out);
      });
      current = f;
    }
    return f;
  }

  public void reset() {
    current = null;
  }

  /** Adds a class; a null id takes the next free one. */
  public Future<Change> create(Integer id, String name, String shortName, String color) {
    return pool.withTransaction(tx -> tx.preparedQuery("INSERT INTO detection_classes (id, name, short_name, color)"
                + " VALUES (COALESCE($1, (SELECT COALESCE(max(id) + 1, 0) FROM detection_classes)), $2, $3, $4)"
                + " RETURNING id")
            .execute(Tuple.of(id, name, shortName, color))
            .compose(rows -> CacheInvalidation.notify(tx, CHANNEL_PAYLOAD).map(x -> new Change(Outcome.OK,
                new DetectionClass(rows.iterator().next().getInteger("id"), name, shortName, color), 0))))
        .recover(ClassCatalog::uniqueViolation);
  }

  public Future<Change> update(int id, String name, String shortName, String color) {
    return pool.withTransaction(tx -> tx.preparedQuery("UPDATE detection_classes SET name = $2, short_name = $3,"
                + " color = $4, updated_at = now() WHERE id = $1")
            .execute(Tuple.of(id, name, shortName, color))
            .compose(r -> r.rowCount() == 0 ? Future.succeededFuture(new Change(Outcome.NOT_FOUND, null, 0))
                : CacheInvalidation.notify(tx, CHANNEL_PAYLOAD).map(x -> new Change(Outcome.OK,
                    new DetectionClass(id, name, shortName, color), 0))))
        .recover(ClassCatalog::uniqueViolation);
  }

  /** Deletes a class nobody uses; a class still referenced by detections is refused with the count of uses. */
  public Future<Change> delete(int id) {
    return pool.withTransaction(tx -> tx.preparedQuery("SELECT id FROM detection_classes WHERE id = $1 FOR UPDATE")
        .execute(Tuple.of(id))
        .compose(found -> {
          if (found.size() == 0) {
            return Future.succeededFuture(new Change(Outcome.NOT_FOUND, null, 0));
          }
          return tx.preparedQuery("SELECT count(*) FROM detections d JOIN annotations a ON a.id = d.annotation_id"
                  + " WHERE d.class_num = $1 AND a.files_state <> 'purging'").execute(Tuple.of(id))
              .compose(count -> {
                long uses = count.iterator().next().getLong(0);
                if (uses > 0) {
                  return Future.succeededFuture(new Change(Outcome.IN_USE, null, uses));
                }
                return tx.preparedQuery("DELETE FROM detection_classes WHERE id = $1").execute(Tuple.of(id))
                    .compose(x -> CacheInvalidation.notify(tx, CHANNEL_PAYLOAD))
                    .map(x -> new Change(Outcome.OK, null, 0));
              });
        }));
  }

  private static Future<Change> uniqueViolation(Throwable e) {
    if (e instanceof PgException pg && "23505".equals(pg.getSqlState())) {
      return Future.succeededFuture(new Change(Outcome.EXISTS, null, 0));
    }
    return Future.failedFuture(e);
  }
}
