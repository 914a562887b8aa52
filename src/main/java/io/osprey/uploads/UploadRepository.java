package io.osprey.uploads;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

/** Owns the {@code uploads} and {@code uploaded_files} tables. */
public final class UploadRepository {
  private final Pool pool;

  public UploadRepository(Pool pool) {
    this.pool = pool;
  }

  /** Inserts an upload and all its files in one transaction; returns the stored creation time. */
  public Future<OffsetDateTime> insert(String uploadId, String userId, List<StoredFile> files) {
    long total = files.stream().mapToLong(StoredFile::sizeBytes).sum();
    return pool.withTransaction(conn -> conn
        .preparedQuery("INSERT INTO uploads (upload_id, user_id, file_count, total_bytes) VALUES ($1, $2, $3, $4)"
            + " RETURNING created_at")
        .execute(Tuple.of(UUID.fromString(uploadId), userId, files.size(), total))
        .compose(created -> {
          List<Tuple> batch = new ArrayList<>(files.size());
          for (StoredFile f : files) {
            batch.add(Tuple.tuple()
                .addUUID(UUID.fromString(f.fileId()))
                .addUUID(UUID.fromString(uploadId))
                .addInteger(f.position())
                .addString(f.filename())
                .addLong(f.sizeBytes())
                .addInteger(f.width())
                .addInteger(f.height())
                .addString(f.format())
                .addString(f.storagePath()));
          }
          return conn.preparedQuery("INSERT INTO uploaded_files (file_id, upload_id, position, filename, size_bytes,"
                  + " width, height, format, storage_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
              .executeBatch(batch)
              .map(ignored -> created.iterator().next().getOffsetDateTime("created_at"));
        }));
  }

  /**
   * Locks an upload's row on {@code conn} (inside the caller's transaction) for its deletion; false when there is
   * no such upload. A job created meanwhile (its foreign key takes a share lock on that row) waits, and then fails
   * to reference a deleted upload.
   */
  public static Future<Boolean> lockForDelete(io.vertx.sqlclient.SqlConnection conn, UUID uploadId) {
    return conn.preparedQuery("SELECT upload_id FROM uploads WHERE upload_id = $1 FOR UPDATE")
        .execute(Tuple.of(uploadId)).map(rows -> rows.size() > 0);
  }

  /** Deletes an upload (its files' rows cascade) on {@code conn}, inside the caller's transaction. */
  public static Future<Void> delete(io.vertx.sqlclient.SqlConnection conn, UUID uploadId) {
    return conn.preparedQuery("DELETE FROM uploads WHERE upload_id = $1").execute(Tuple.of(uploadId)).mapEmpty();
  }

  /**
   * Deletes at most {@code limit} uploads created more than {@code seconds} ago that no job uses any more (the
   * subquery reads the jobs table, which refers to uploads); answers their ids.
   */
  public Future<List<String>> deleteUnusedBefore(long seconds, int limit) {
    return pool.preparedQuery("DELETE FROM uploads WHERE upload_id IN (SELECT u.upload_id FROM uploads u"
            + " WHERE u.created_at < now() - $1::float8 * interval '1 second'"
            + " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.upload_id = u.upload_id) LIMIT $2)"
            + " RETURNING upload_id")
        .execute(Tuple.of((double) seconds, limit))
        .map(rows -> {
          List<String> ids = new ArrayList<>();
          rows.forEach(r -> ids.add(r.getUUID("upload_id").toString()));
          return ids;
        });
  }

  /** Which of these upload ids have a row; the storage janitor keeps only those folders. */
  public Future<Set<String>> existing(List<String> uploadIds) {
    UUID[] ids = uploadIds.stream().map(UUID::fromString).toArray(UUID[]::new);
    return pool.preparedQuery("SELECT upload_id FROM uploads WHERE upload_id = ANY($1)")
        .execute(Tuple.of(ids))
        .map(rows -> {
          Set<String> found = new java.util.HashSet<>();
          for (Row row : rows) {
            found.add(row.getUUID("upload_id").toString());
          }
          return found;
        });
  }

  public static Set<String> validUuids(List<String> names) {
    return names.stream().filter(io.osprey.storage.Ids::isCanonicalUuid).collect(Collectors.toSet());
  }
}
