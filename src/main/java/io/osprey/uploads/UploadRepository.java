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
