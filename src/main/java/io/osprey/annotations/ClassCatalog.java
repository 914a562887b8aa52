package io.osprey.annotations;

import io.vertx.core.Future;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

  /**
   * Seeds an empty catalog with {@code seed}, once per database: the first process to start after the catalog
   * table exists decides (under the seed row's primary key, so processes starting together do not both load it).
   * An existing catalog is kept as it is, and a catalog emptied later on purpose stays empty. Answers how many
   * classes were loaded (0 when the catalog was kept or the decision had been taken before).
   */
  public Future<Integer> seedOnce(List<DetectionClass> seed, String source) {
    return pool.withTransaction(tx -> tx.preparedQuery("INSERT INTO detection_classes_seed (id, source, loaded)"
            + " VALUES (1, $1, 0) ON CONFLICT (id) DO NOTHING RETURNING id").execute(Tuple.of(source))
        .compose(decided -> {
          if (decided.size() == 0) {
            return Future.succeededFuture(0);
          }
          return tx.query("SELECT count(*) FROM detection_classes").execute().compose(count -> {
            if (count.iterator().next().getLong(0) > 0 || seed.isEmpty()) {
              return Future.succeededFuture(0);
            }
            List<Tuple> rows = new ArrayList<>();
            seed.forEach(c -> rows.add(Tuple.of(c.id(), c.name(), c.shortName(), c.color())));
            return tx.preparedQuery("INSERT INTO detection_classes (id, name, short_name, color)"
                    + " VALUES ($1, $2, $3, $4)").executeBatch(rows)
                .compose(x -> tx.preparedQuery("UPDATE detection_classes_seed SET loaded = $1 WHERE id = 1")
                    .execute(Tuple.of(seed.size())))
                .compose(x -> CacheInvalidation.notify(tx, CHANNEL_PAYLOAD))
                .map(x -> seed.size());
          });
        }));
  }

  /**
   * Reads a catalog file: a JSON array of {@code {"id", "name", "shortName"?, "color"?}}, the shape GET /classes
   * answers (so {@code curl /classes > classes.json} makes one). Ids are required (a model's class numbers depend on
   * them); ids and names are unique. {@code source} names the file in the messages.
   */
  public static List<DetectionClass> parseSeed(String json, String source) {
    JsonArray array;
    try {
      array = new JsonArray(json);
    } catch (DecodeException | ClassCastException e) {
      throw new IllegalArgumentException(source + ": not a JSON array of classes (" + e.getMessage() + ")");
    }
    List<DetectionClass> out = new ArrayList<>();
    Set<Integer> ids = new HashSet<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < array.size(); i++) {
      String at = source + ": entry " + i + ": ";
      if (!(array.getValue(i) instanceof JsonObject raw)) {
        throw new IllegalArgumentException(at + "must be an object");
      }
      JsonObject o = Wire.ci(raw);
      Object id = o.getValue("id");
      if (!(id instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.longValue() < 0
          || n.longValue() > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(at + "id must be a whole number >= 0");
      }
      String name = text(o.getValue("name"), at + "name");
      if (name == null) {
        throw new IllegalArgumentException(at + "name is required");
      }
      String shortName = text(o.getValue("shortname"), at + "shortName");
      String color = text(o.getValue("color"), at + "color");
      if (color != null && !color.matches("#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")) {
        throw new IllegalArgumentException(at + "color must be #RRGGBB or #AARRGGBB");
      }
      if (!ids.add(n.intValue())) {
        throw new IllegalArgumentException(at + "id " + n.intValue() + " appears twice");
      }
      if (!names.add(name)) {
        throw new IllegalArgumentException(at + "name '" + name + "' appears twice");
      }
      out.add(new DetectionClass(n.intValue(), name, shortName == null ? name : shortName,
          color == null ? "#FF0000" : color));
    }
    return out;
  }

  private static String text(Object v, String field) {
    if (v == null) {
      return null;
    }
    if (!(v instanceof String s) || s.isBlank() || s.indexOf('\0') >= 0) {
      throw new IllegalArgumentException(field + " must be a non-empty string");
    }
    return s.strip();
  }

  private static Future<Change> uniqueViolation(Throwable e) {
    if (e instanceof PgException pg && "23505".equals(pg.getSqlState())) {
      return Future.succeededFuture(new Change(Outcome.EXISTS, null, 0));
    }
    return Future.failedFuture(e);
  }
}
