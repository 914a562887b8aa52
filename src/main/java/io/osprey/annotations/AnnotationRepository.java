package io.osprey.annotations;

import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** SQL of the annotations, detections, media and annotation_outbox tables. Methods take the caller's transaction. */
public final class AnnotationRepository {
  private final Pool pool;

  public AnnotationRepository(Pool pool) {
    this.pool = pool;
  }

  public Pool pool() {
    return pool;
  }

  // ------------------------------------------------------------------ rows

  public record Media(String id, String name, String mediaType, String format, long size, Integer width,
                      Integer height, String path, String flightId, String waypointId, String status,
                      String filesState, String createdBy, OffsetDateTime createdAt) {
    static final String COLUMNS = "id, name, media_type, format, size_bytes, width, height, path, flight_id,"
        + " waypoint_id, status, files_state, created_by, created_at";

    static Media of(Row r) {
      return new Media(r.getString("id"), r.getString("name"), r.getString("media_type"), r.getString("format"),
          r.getLong("size_bytes"), r.getInteger("width"), r.getInteger("height"), r.getString("path"),
          r.getString("flight_id"), r.getString("waypoint_id"), r.getString("status"), r.getString("files_state"),
          r.getString("created_by"), r.getOffsetDateTime("created_at"));
    }

    public JsonObject toJson() {
      return new JsonObject().put("id", id).put("name", name).put("mediaType", mediaType).put("format", format)
          .put("size", size).put("width", width).put("height", height).put("flightId", flightId)
          .put("waypointId", waypointId).put("status", status).put("createdBy", createdBy)
          .put("createdAt", time(createdAt));
    }
  }

  public record Annotation(String id, String mediaId, String name, String flightId, String waypointId, String source,
                           AnnotationStatus status, String imageExtension, int width, int height, String jobId,
                           String filesState, int version, String createdBy, OffsetDateTime createdAt,
                           OffsetDateTime updatedAt, List<Detection> detections) {
    static final String COLUMNS = "id, media_id, name, flight_id, waypoint_id, source, status, image_format, width,"
        + " height, job_id, files_state, version, created_by, created_at, updated_at";

    static Annotation of(Row r, List<Detection> detections) {
      UUID job = r.getUUID("job_id");
      return new Annotation(r.getString("id"), r.getString("media_id"), r.getString("name"), r.getString("flight_id"),
          r.getString("waypoint_id"), r.getString("source"), AnnotationStatus.ofCode(r.getShort("status")),
          r.getString("image_format"), r.getInteger("width"), r.getInteger("height"),
          job == null ? null : job.toString(), r.getString("files_state"), r.getInteger("version"),
          r.getString("created_by"), r.getOffsetDateTime("created_at"), r.getOffsetDateTime("updated_at"),
          detections);
    }

    public JsonObject toJson() {
      return new JsonObject().put("id", id).put("mediaId", mediaId).put("name", name).put("flightId", flightId)
          .put("waypointId", waypointId).put("source", source).put("status", status.wire())
          .put("imageFormat", imageExtension).put("width", width).put("height", height).put("jobId", jobId)
          .put("filesState", filesState).put("version", version).put("createdBy", createdBy)
          .put("createdAt", time(createdAt)).put("updatedAt", time(updatedAt))
          .put("detections", Detection.toJson(detections));
    }
  }

  static String time(OffsetDateTime t) {
    return t == null ? null : t.withOffsetSameInstant(ZoneOffset.UTC).toInstant().toString();
  }

  // ------------------------------------------------------------------ media

  Future<Boolean> insertMediaIfAbsent(SqlClient c, Media m) {
    return c.preparedQuery("INSERT INTO media (id, name, media_type, format, size_bytes, width, height, path,"
            + " flight_id, waypoint_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            + " ON CONFLICT (id) DO NOTHING")
        .execute(Tuple.from(new Object[] {m.id(), m.name(), m.mediaType(), m.format(), m.size(), m.width(),
            m.height(), m.path(), m.flightId(), m.waypointId(), m.createdBy()}))
        .map(r -> r.rowCount() == 1);
  }

  public Future<Media> findMedia(SqlClient c, String id) {
    return c.preparedQuery("SELECT " + Media.COLUMNS + " FROM media WHERE id = $1").execute(Tuple.of(id))
        .map(rows -> rows.size() == 0 ? null : Media.of(rows.iterator().next()));
  }

  Future<Void> mediaFilesState(SqlClient c, String id, String state) {
    return c.preparedQuery("UPDATE media SET files_state = $2, updated_at = now() WHERE id = $1 AND files_state <> $2")
        .execute(Tuple.of(id, state)).mapEmpty();
  }

  Future<List<Media>> pendingMedia(long olderThanSeconds, int limit) {
    return pool.preparedQuery("SELECT " + Media.COLUMNS + " FROM media WHERE files_state = 'pending'"
            + " AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2")
        .execute(Tuple.of((double) olderThanSeconds, limit))
        .map(rows -> {
          List<Media> out = new ArrayList<>();
          rows.forEach(r -> out.add(Media.of(r)));
          return out;
        });
  }

  // ------------------------------------------------------------------ annotations

  /** Inserts the annotation; null when one with this id exists already. */
  Future<OffsetDateTime> insertAnnotation(SqlClient c, Annotation a) {
    return c.preparedQuery("INSERT INTO annotations (id, media_id, name, flight_id, waypoint_id, source, status,"
            + " image_format, width, height, job_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            + " $11, $12) ON CONFLICT (id) DO NOTHING RETURNING created_at")
        .execute(Tuple.from(new Object[] {a.id(), a.mediaId(), a.name(), a.flightId(), a.waypointId(), a.source(),
            (short) a.status().code(), a.imageExtension(), a.width(), a.height(),
            a.jobId() == null ? null : UUID.fromString(a.jobId()), a.createdBy()}))
        .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getOffsetDateTime("created_at"));
  }

  Future<Void> insertDetections(SqlClient c, String id, List<Detection> detections) {
    if (detections.isEmpty()) {
      return Future.succeededFuture();
    }
    List<Tuple> batch = new ArrayList<>();
    for (int i = 0; i < detections.size(); i++) {
      Detection d = detections.get(i);
      batch.add(Tuple.from(new Object[] {id, i, d.classNum(), d.label(), (float) d.centerX(), (float) d.centerY(),
          (float) d.width(), (float) d.height(), (float) d.confidence()}));
    }
    return c.preparedQuery("INSERT INTO detections (annotation_id, idx, class_num, label, center_x, center_y, width,"
        + " height, confidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)").executeBatch(batch).mapEmpty();
  }

  Future<Void> deleteDetections(SqlClient c, String id) {
    return c.preparedQuery("DELETE FROM detections WHERE annotation_id = $1").execute(Tuple.of(id)).mapEmpty();
  }

  Future<Void> outbox(SqlClient c, String operation, List<String> ids, JsonObject payload) {
    // The NOTIFY goes out when the row commits and wakes the drainer at once (PostgreSQL folds repeats in one
    // transaction into one notification).
    return c.preparedQuery("INSERT INTO annotation_outbox (operation, annotation_ids, payload) VALUES ($1, $2, $3)")
        .execute(Tuple.of(operation, ids.toArray(String[]::new), payload))
        .compose(x -> c.query("NOTIFY osprey_outbox").execute()).mapEmpty();
  }

  public Future<Annotation> find(SqlClient c, String id) {
    return c.preparedQuery("SELECT " + Annotation.COLUMNS + " FROM annotations WHERE id = $1").execute(Tuple.of(id))
        .compose(rows -> {
          if (rows.size() == 0) {
            return Future.succeededFuture(null);
          }
          Row row = rows.iterator().next();
          return detections(c, List.of(id)).map(d -> Annotation.of(row, d.getOrDefault(id, List.of())));
        });
  }

  /** Locks the row for the rest of the transaction; null when absent. */
  Future<Annotation> lock(SqlClient c, String id) {
    return c.preparedQuery("SELECT " + Annotation.COLUMNS + " FROM annotations WHERE id = $1 FOR UPDATE")
        .execute(Tuple.of(id))
        .map(rows -> rows.size() == 0 ? null : Annotation.of(rows.iterator().next(), List.of()));
  }

  Future<OffsetDateTime> markEdited(SqlClient c, String id, String name, String flightId, String waypointId) {
    return c.preparedQuery("UPDATE annotations SET status = 20, version = version + 1, files_state = 'pending',"
            + " name = COALESCE($2, name), flight_id = COALESCE($3, flight_id),"
            + " waypoint_id = COALESCE($4, waypoint_id), updated_at = now() WHERE id = $1 RETURNING updated_at")
        .execute(Tuple.of(id, name, flightId, waypointId))
        .map(rows -> rows.iterator().next().getOffsetDateTime("updated_at"));
  }

  /** Changed rows (id, media_id, flight_id); rows already in that status are left alone and not returned. */
  Future<RowSet<Row>> setStatus(SqlClient c, List<String> ids, AnnotationStatus status) {
    return c.preparedQuery("UPDATE annotations SET status = $2, version = version + 1, updated_at = now()"
            + " WHERE id = ANY($1) AND status <> $2 RETURNING id, media_id, flight_id, waypoint_id")
        .execute(Tuple.of(ids.toArray(String[]::new), (short) status.code()));
  }

  Future<List<String>> existing(SqlClient c, List<String> ids) {
    return c.preparedQuery("SELECT id FROM annotations WHERE id = ANY($1)").execute(Tuple.of(ids.toArray(String[]::new)))
        .map(rows -> {
          List<String> out = new ArrayList<>();
          rows.forEach(r -> out.add(r.getString("id")));
          return out;
        });
  }

  /** Settles the files state; the NOTIFY wakes an outbox drainer holding a Created row until its image exists. */
  Future<Void> filesState(SqlClient c, String id, String state, int version) {
    return c.preparedQuery("UPDATE annotations SET files_state = $2 WHERE id = $1 AND version = $3"
        + " AND files_state IN ('pending', 'missing')").execute(Tuple.of(id, state, version))
        .compose(r -> r.rowCount() > 0 && !state.equals("pending")
            ? c.preparedQuery("UPDATE annotation_outbox SET held_until = NULL WHERE held_until IS NOT NULL"
                + " AND $1 = ANY(annotation_ids) AND held_reason = 'image not written yet'").execute(Tuple.of(id))
                .compose(x -> c.query("NOTIFY osprey_outbox").execute()).mapEmpty()
            : Future.<Void>succeededFuture()).mapEmpty();
  }

  Future<Void> markPurging(SqlClient c, String id) {
    return c.preparedQuery("UPDATE annotations SET files_state = 'purging', updated_at = now() WHERE id = $1")
        .execute(Tuple.of(id)).mapEmpty();
  }

  Future<Void> deleteRow(SqlClient c, String id) {
    return c.preparedQuery("DELETE FROM annotations WHERE id = $1 AND files_state = 'purging'").execute(Tuple.of(id))
        .mapEmpty();
  }

  Future<List<Annotation>> unsettled(long olderThanSeconds, int limit) {
    return pool.preparedQuery("SELECT " + Annotation.COLUMNS + " FROM annotations"
            + " WHERE files_state IN ('pending', 'purging') AND updated_at < now() - make_interval(secs => $1)"
            + " ORDER BY updated_at LIMIT $2")
        .execute(Tuple.of((double) olderThanSeconds, limit))
        .compose(rows -> {
          List<Row> list = new ArrayList<>();
          rows.forEach(list::add);
          return detections(pool, list.stream().map(r -> r.getString("id")).toList()).map(d -> {
            List<Annotation> out = new ArrayList<>();
            list.forEach(r -> out.add(Annotation.of(r, d.getOrDefault(r.getString("id"), List.of()))));
            return out;
          });
        });
  }

  /** Annotations a detection job created (create_annotations). */
  public Future<Long> countForJob(String jobId) {
    return pool.preparedQuery("SELECT count(*) FROM annotations WHERE job_id = $1")
        .execute(Tuple.of(UUID.fromString(jobId))).map(rows -> rows.iterator().next().getLong(0));
  }

  Future<Map<String, List<Detection>>> detections(SqlClient c, List<String> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    return c.preparedQuery("SELECT annotation_id, class_num, label, center_x, center_y, width, height, confidence"
            + " FROM detections WHERE annotation_id = ANY($1) ORDER BY annotation_id, idx")
        .execute(Tuple.of(ids.toArray(String[]::new)))
        .map(rows -> {
          Map<String, List<Detection>> out = new HashMap<>();
          rows.forEach(r -> out.computeIfAbsent(r.getString("annotation_id"), k -> new ArrayList<>()).add(
              new Detection(r.getInteger("class_num"), r.getString("label"), r.getFloat("center_x"),
                  r.getFloat("center_y"), r.getFloat("width"), r.getFloat("height"), r.getFloat("confidence"))));
          return out;
        });
  }

  // ------------------------------------------------------------------ listing

  /** GetAnnotationsQuery: every filter optional; deleted annotations only when asked for by status. */
  public record Query(String flightId, String waypointId, String mediaId, List<AnnotationStatus> statuses,
                      Integer classNum, OffsetDateTime from, OffsetDateTime to, String createdBy, String source,
                      int page, int pageSize) {
  }

  public record Page(List<Annotation> items, long total) {
  }

  public Future<Page> list(Query q) {
    Tuple args = Tuple.tuple();
    List<String> where = sharedFilters(q.flightId(), q.waypointId(), q.mediaId(), q.statuses(), q.source(), q.from(),
        q.to(), q.createdBy(), args);
    if (q.classNum() != null) {
      args.addInteger(q.classNum());
      where.add("EXISTS (SELECT 1 FROM detections d WHERE d.annotation_id = annotations.id AND d.class_num = $"
          + args.size() + ")");
    }
    where.add("files_state <> 'purging'");
    String filter = " WHERE " + String.join(" AND ", where);
    Tuple pageArgs = Tuple.tuple();
    for (int i = 0; i < args.size(); i++) {
      pageArgs.addValue(args.getValue(i));
    }
    pageArgs.addInteger(q.pageSize()).addLong((long) (q.page() - 1) * q.pageSize());
    Future<Long> total = pool.preparedQuery("SELECT count(*) FROM annotations" + filter).execute(args)
        .map(rows -> rows.iterator().next().getLong(0));
    Future<List<Row>> rows = pool.preparedQuery("SELECT " + Annotation.COLUMNS + " FROM annotations" + filter
            + " ORDER BY created_at DESC, id DESC LIMIT $" + (args.size() + 1) + " OFFSET $" + (args.size() + 2))
        .execute(pageArgs)
        .map(rs -> {
          List<Row> list = new ArrayList<>();
          rs.forEach(list::add);
          return list;
        });
    return Future.all(total, rows).compose(x -> {
      List<Row> list = rows.result();
      return detections(pool, list.stream().map(r -> r.getString("id")).toList()).map(d -> {
        List<Annotation> items = new ArrayList<>();
        list.forEach(r -> items.add(Annotation.of(r, d.getOrDefault(r.getString("id"), List.of()))));
        return new Page(items, total.result());
      });
    });
  }

  /**
   * The filters the listing and the dataset export share, as SQL conditions on {@code annotations} whose values are
   * appended to {@code args}: deleted annotations only when asked for by status.
   */
  private static List<String> sharedFilters(String flightId, String waypointId, String mediaId,
                                            List<AnnotationStatus> statuses, String source, OffsetDateTime from,
                                            OffsetDateTime to, String createdBy, Tuple args) {
    List<String> where = new ArrayList<>();
    if (flightId != null) {
      args.addString(flightId);
      where.add("flight_id = $" + args.size());
    }
    if (waypointId != null) {
      args.addString(waypointId);
      where.add("waypoint_id = $" + args.size());
    }
    if (mediaId != null) {
      args.addString(mediaId);
      where.add("media_id = $" + args.size());
    }
    if (statuses.isEmpty()) {
      where.add("status <> 40");
    } else {
      args.addValue(statuses.stream().map(st -> (short) st.code()).toArray(Short[]::new));
      where.add("status = ANY($" + args.size() + ")");
    }
    if (source != null) {
      args.addString(source);
      where.add("source = $" + args.size());
    }
    if (from != null) {
      args.addOffsetDateTime(from);
      where.add("created_at >= $" + args.size());
    }
    if (to != null) {
      args.addOffsetDateTime(to);
      where.add("created_at < $" + args.size());
    }
    if (createdBy != null) {
      args.addString(createdBy);
      where.add("created_by = $" + args.size());
    }
    return where;
  }

  // ------------------------------------------------------------------ dataset export

  /**
   * The filters of a dataset export: those of the listing plus source and classes (an annotation is exported when
   * one of its detections has one of them, with only those detections). Deleted annotations only when asked for by
   * status; annotations whose image is missing or being purged never.
   */
  public record ExportQuery(String flightId, String waypointId, String mediaId, List<AnnotationStatus> statuses,
                            String source, OffsetDateTime from, OffsetDateTime to, String createdBy,
                            List<Integer> classes) {
  }

  /** One exported annotation: its stable number ({@code seq}), image facts and detections with their indexes. */
  public record ExportRow(long seq, String id, String imageFormat, int width, int height, List<Integer> indexes,
                          List<Detection> detections) {
  }

  /**
   * Makes {@code c} a read-only snapshot: every page of every pass of one export reads the same rows, whatever
   * changes meanwhile. The export's own connection, closed (and the snapshot with it) when the export ends.
   */
  Future<Void> beginSnapshot(SqlClient c) {
    return c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute().mapEmpty();
  }

  private static String exportFilter(ExportQuery q, Tuple args) {
    List<String> where = sharedFilters(q.flightId(), q.waypointId(), q.mediaId(), q.statuses(), q.source(), q.from(),
        q.to(), q.createdBy(), args);
    if (!q.classes().isEmpty()) {
      args.addValue(q.classes().toArray(Integer[]::new));
      where.add("EXISTS (SELECT 1 FROM detections d WHERE d.annotation_id = annotations.id AND d.class_num = ANY($"
          + args.size() + "))");
    }
    where.add("files_state NOT IN ('purging', 'missing')");
    return " WHERE " + String.join(" AND ", where);
  }

  Future<Long> exportCount(SqlClient c, ExportQuery q) {
    Tuple args = Tuple.tuple();
    String filter = exportFilter(q, args);
    return c.preparedQuery("SELECT count(*) FROM annotations" + filter).execute(args)
        .map(rows -> rows.iterator().next().getLong(0));
  }

  /** The next page after {@code afterSeq} in seq order, with the detections the query's classes keep. */
  Future<List<ExportRow>> exportPage(SqlClient c, ExportQuery q, long afterSeq, int limit) {
    Tuple args = Tuple.tuple();
    String filter = exportFilter(q, args);
    args.addLong(afterSeq).addInteger(limit);
    return c.preparedQuery("SELECT seq, id, image_format, width, height FROM annotations" + filter + " AND seq > $"
            + (args.size() - 1) + " ORDER BY seq LIMIT $" + args.size()).execute(args)
        .compose(rows -> {
          List<Row> list = new ArrayList<>();
          rows.forEach(list::add);
          if (list.isEmpty()) {
            return Future.succeededFuture(List.<ExportRow>of());
          }
          Tuple dargs = Tuple.of(list.stream().map(r -> r.getString("id")).toArray(String[]::new));
          String classes = "";
          if (!q.classes().isEmpty()) {
            dargs.addValue(q.classes().toArray(Integer[]::new));
            classes = " AND class_num = ANY($2)";
          }
          return c.preparedQuery("SELECT annotation_id, idx, class_num, label, center_x, center_y, width, height,"
                  + " confidence FROM detections WHERE annotation_id = ANY($1)" + classes
                  + " ORDER BY annotation_id, idx").execute(dargs)
              .map(dets -> {
                Map<String, List<Row>> by = new HashMap<>();
                dets.forEach(r -> by.computeIfAbsent(r.getString("annotation_id"), k -> new ArrayList<>()).add(r));
                List<ExportRow> out = new ArrayList<>();
                for (Row r : list) {
                  List<Integer> indexes = new ArrayList<>();
                  List<Detection> detections = new ArrayList<>();
                  for (Row d : by.getOrDefault(r.getString("id"), List.of())) {
                    indexes.add(d.getInteger("idx"));
                    detections.add(new Detection(d.getInteger("class_num"), d.getString("label"),
                        d.getFloat("center_x"), d.getFloat("center_y"), d.getFloat("width"), d.getFloat("height"),
                        d.getFloat("confidence")));
                  }
                  out.add(new ExportRow(r.getLong("seq"), r.getString("id"), r.getString("image_format"),
                      r.getInteger("width"), r.getInteger("height"), indexes, detections));
                }
                return out;
              });
        });
  }

  static JsonArray ids(RowSet<Row> rows) {
    JsonArray a = new JsonArray();
    rows.forEach(r -> a.add(r.getString("id")));
    return a;
  }
}
