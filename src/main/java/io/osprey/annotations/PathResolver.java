package io.osprey.annotations;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The directory settings with a read-through cache (F7). {@link #reset()} drops the cache; every instance calls it
 * when any instance changes the settings (see {@link CacheInvalidation}), so no pod keeps stale roots.
 */
public final class PathResolver {
  public static final String CHANNEL_PAYLOAD = "directories";

  private final Pool pool;
  private final Path base;
  private volatile Future<Directories> current;

  public PathResolver(Pool pool, Path base) {
    this.pool = pool;
    this.base = base.toAbsolutePath().normalize();
  }

  public Future<Directories> get() {
    Future<Directories> f = current;
    if (f == null || f.failed()) {
      f = pool.query("SELECT * FROM directory_settings WHERE id = 1").execute()
          .map(rows -> Directories.fromRow(rows.iterator().next(), base));
      current = f;
    }
    return f;
  }

  public void reset() {
    current = null;
  }

  public Path base() {
    return base;
  }

  /** Updates the given fields (wire name → value) in the caller's transaction and announces the change. */
  static Future<Void> update(SqlClient tx, Map<String, String> changes) {
    List<String> sets = new ArrayList<>();
    Tuple args = Tuple.tuple();
    changes.forEach((wire, value) -> {
      args.addString(value);
      sets.add(Directories.FIELDS.get(wire) + " = $" + args.size());
    });
    return tx.preparedQuery("UPDATE directory_settings SET " + String.join(", ", sets) + ", updated_at = now()"
            + " WHERE id = 1").execute(args)
        .compose(x -> CacheInvalidation.notify(tx, CHANNEL_PAYLOAD));
  }
}
