package io.osprey.annotations;

import io.osprey.annotations.AnnotationRepository.ExportQuery;
import io.osprey.annotations.AnnotationRepository.ExportRow;
import io.osprey.auth.AuthHandler;
import io.osprey.auth.Permission;
import io.osprey.auth.TokenVerifier;
import io.osprey.errors.ErrorCode;
import io.osprey.http.ApiError;
import io.osprey.http.ApiException;
import io.osprey.http.PagedExport;
import io.osprey.http.RequestIds;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.pgclient.PgConnection;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /annotations/export?format=yolo|coco|voc}: the annotations the listing filters select (plus source and
 * classes), with their images, as a zip streamed while it is made ({@link PagedExport}). The rows are read a page
 * at a time from one read-only snapshot on a connection of the export's own (so a slow download never holds one of
 * the pool's connections, and every pass of a multi-pass format sees the same rows); the snapshot ends with the
 * export. Nothing selected: 404 {@code EXPORT_EMPTY}.
 */
final class DatasetExportApi {
  private static final Logger LOG = LoggerFactory.getLogger(DatasetExportApi.class);
  static final int PAGE_ROWS = 200;
  static final Set<String> FORMATS = Set.of("yolo", "coco", "voc");
  /** Every parameter the route takes; any other is refused, so a misspelt filter never widens an export. */
  static final Set<String> PARAMETERS = Set.of("format", "flightid", "waypointid", "mediaid", "status", "source",
      "from", "to", "createdby", "classes", "split", "seed");
  static final String COUNT_HEADER = "X-Export-Images";
  static final int BUSY_RETRY_SECONDS = 5;

  private final AnnotationService service;
  private final ClassCatalog classes;
  private final TokenVerifier verifier;
  private final PgConnectOptions database;
  private final Semaphore slots;

  /** {@code slots}: the exports this process may run at once (annotations.max_concurrent_exports), shared. */
  DatasetExportApi(AnnotationService service, ClassCatalog classes, TokenVerifier verifier,
                   PgConnectOptions database, Semaphore slots) {
    this.service = service;
    this.classes = classes;
    this.verifier = verifier;
    this.database = database;
    this.slots = slots;
  }

  /** Before the annotation routes: {@code /annotations/:id} would take "export" for an id. */
  void mount(Router router) {
    AuthHandler.anyOf(verifier, Permission.ANN, Permission.DATASET).guard(router.get("/annotations/export"))
        .handler(this::export);
  }

  /** What a request asks for, once its parameters are valid. */
  record Request(String format, ExportQuery query, DatasetFormat.Split split, JsonObject filters) {
  }

  private void export(RoutingContext ctx) {
    // Each export holds a database connection of its own for as long as its client takes to download: without a
    // bound, clients that start many exports and read slowly would take every connection the server allows.
    if (!slots.tryAcquire()) {
      ctx.response().putHeader("Retry-After", Integer.toString(BUSY_RETRY_SECONDS));
      AnnotationsApi.fail(ctx, new ApiException(ApiError.of(ErrorCode.TOO_MANY_EXPORTS, "Already "
          + "exporting as many datasets as this server allows at once (annotations.max_concurrent_exports); retry"
          + " when one has finished")));
      return;
    }
    AtomicBoolean released = new AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true)) {
        slots.release();
      }
    };
    classes.get().compose(catalog -> {
      Request request = parse(ctx.queryParams(), catalog);
      return service.paths().get().compose(dirs -> Snapshot.open(ctx.vertx(), database, service.repository(),
              request.query())
          .compose(snapshot -> snapshot.count().compose(n -> {
            if (n == 0) {
              return snapshot.close().compose(x -> Future.failedFuture(new ApiException(ApiError.of(
                  ErrorCode.EXPORT_EMPTY, "No annotation matches the export's filters"))));
            }
            Map<Integer, String> names = new LinkedHashMap<>();
            catalog.forEach((id, c) -> names.put(id, c.name()));
            DatasetFormat format = DatasetFormat.of(request.format(), dirs, request.split(), names, request.filters());
            LOG.info("rid={} dataset export {} of {} annotation(s) started", RequestIds.of(ctx), request.format(), n);
            new PagedExport<>(ctx.vertx(), ctx, PAGE_ROWS, snapshot, format, response -> response
                .putHeader("Content-Type", "application/zip")
                .putHeader("Content-Disposition", "attachment; filename=\"osprey-" + request.format() + ".zip\"")
                .putHeader(COUNT_HEADER, Long.toString(n)), "dataset export").start()
                .onComplete(x -> snapshot.close().onComplete(y -> release.run()));
            return Future.succeededFuture();
          }).recover(e -> snapshot.close().transform(x -> Future.failedFuture(e)))));
    }).onFailure(e -> {
      release.run();
      AnnotationsApi.fail(ctx, e);
    });
  }

  /** Reads the parameters; every problem is collected into one 400. */
  static Request parse(MultiMap p, Map<Integer, ClassCatalog.DetectionClass> catalog) {
    List<String> errors = new ArrayList<>();
    Set<String> unknown = new TreeSet<>();
    for (String name : p.names()) {
      if (!PARAMETERS.contains(name.toLowerCase(Locale.ROOT))) {
        unknown.add(name);
      }
    }
    unknown.forEach(u -> errors.add(u + ": unknown parameter; known: format, flightId, waypointId, mediaId, status,"
        + " source, from, to, createdBy, classes, split, seed"));
    String format = Wire.query(p, "format");
    if (format == null) {
      errors.add("format: required, one of yolo, coco, voc");
    } else {
      format = format.toLowerCase(Locale.ROOT);
      if (!FORMATS.contains(format)) {
        errors.add("format: must be yolo, coco or voc");
      }
    }
    List<AnnotationStatus> statuses = new ArrayList<>();
    String status = Wire.query(p, "status");
    if (status != null) {
      for (String s : status.split(",")) {
        AnnotationStatus st = AnnotationStatus.parse(s);
        if (st == null) {
          errors.add("status: '" + s.strip() + "' is not one of " + AnnotationStatus.names());
        } else {
          statuses.add(st);
        }
      }
    }
    String source = Wire.query(p, "source");
    if (source != null) {
      if (source.equalsIgnoreCase("AI")) {
        source = "AI";
      } else if (source.equalsIgnoreCase("Manual")) {
        source = "Manual";
      } else {
        errors.add("source: must be AI or Manual");
      }
    }
    List<Integer> classIds = new ArrayList<>();
    String classList = Wire.query(p, "classes");
    if (classList != null) {
      for (String c : classList.split(",")) {
        Integer id = classId(c.strip(), catalog);
        if (id == null) {
          errors.add("classes: '" + c.strip() + "' is neither a class number nor a class name of the catalog");
        } else if (!classIds.contains(id)) {
          classIds.add(id);
        }
      }
    }
    Double fraction = null;
    String split = Wire.query(p, "split");
    if (split != null) {
      try {
        fraction = Double.parseDouble(split);
      } catch (NumberFormatException e) {
        fraction = Double.NaN;
      }
      if (!(fraction > 0 && fraction < 1)) {
        errors.add("split: must be a number between 0 and 1 (exclusive): the share of images in train");
      }
    }
    long seed = 0;
    String seedText = Wire.query(p, "seed");
    if (seedText != null) {
      try {
        seed = Long.parseLong(seedText);
      } catch (NumberFormatException e) {
        errors.add("seed: must be a whole number");
      }
      if (split == null) {
        errors.add("seed: only with split");
      }
    }
    OffsetDateTime from = time(p, "from", errors);
    OffsetDateTime to = time(p, "to", errors);
    if (!errors.isEmpty()) {
      throw AnnotationsApi.invalid(errors);
    }
    ExportQuery query = new ExportQuery(Wire.query(p, "flightId"), Wire.query(p, "waypointId"),
        Wire.query(p, "mediaId"), statuses, source, from, to, Wire.query(p, "createdBy"), classIds);
    JsonObject filters = new JsonObject();
    for (String name : p.names()) {
      if (!name.equalsIgnoreCase("format")) {
        filters.put(name, p.get(name));
      }
    }
    return new Request(format, query, new DatasetFormat.Split(fraction, seed), filters);
  }

  private static Integer classId(String c, Map<Integer, ClassCatalog.DetectionClass> catalog) {
    if (c.matches("\\d{1,9}")) {
      return Integer.parseInt(c);
    }
    for (ClassCatalog.DetectionClass k : catalog.values()) {
      if (k.name().equalsIgnoreCase(c)) {
        return k.id();
      }
    }
    return null;
  }

  private static OffsetDateTime time(MultiMap p, String name, List<String> errors) {
    return AnnotationsApi.time(Wire.query(p, name), name, errors);
  }

  /** The export's own connection, in a read-only snapshot, read a page at a time in seq order. */
  static final class Snapshot implements PagedExport.Pages<ExportRow> {
    private final PgConnection connection;
    private final AnnotationRepository repository;
    private final ExportQuery query;
    private boolean closed;

    private Snapshot(PgConnection connection, AnnotationRepository repository, ExportQuery query) {
      this.connection = connection;
      this.repository = repository;
      this.query = query;
    }

    static Future<Snapshot> open(Vertx vertx, PgConnectOptions options, AnnotationRepository repository,
                                 ExportQuery query) {
      return PgConnection.connect(vertx, options).compose(c -> repository.beginSnapshot(c)
          .map(x -> new Snapshot(c, repository, query))
          .recover(e -> c.close().transform(x -> Future.failedFuture(e))));
    }

    Future<Long> count() {
      return repository.exportCount(connection, query);
    }

    @Override
    public Future<List<ExportRow>> next(ExportRow after, int limit) {
      return repository.exportPage(connection, query, after == null ? 0 : after.seq(), limit);
    }

    /** Ends the snapshot (a read-only transaction: nothing to commit) with the connection. */
    Future<Void> close() {
      if (closed) {
        return Future.succeededFuture();
      }
      closed = true;
      return connection.close();
    }
  }
}
