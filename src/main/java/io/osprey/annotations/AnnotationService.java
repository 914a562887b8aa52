package io.osprey.annotations;

import io.osprey.annotations.AnnotationFiles.Staged;
import io.osprey.annotations.AnnotationRepository.Annotation;
import io.osprey.annotations.AnnotationRepository.Media;
import io.osprey.annotations.AnnotationStatus.Operation;
import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every annotation mutation, for the HTTP API and for detection jobs alike (RB-01, RB-03): the rows, the outbox row
 * and the live event's content commit in one transaction; files are written after the commit, each atomically, and
 * the row is marked complete last. A crash anywhere leaves either nothing (before commit; the staged image is swept)
 * or a committed row in state {@code pending} that the {@link Reconciler} completes.
 */
public final class AnnotationService {
  private static final Logger LOG = LoggerFactory.getLogger(AnnotationService.class);

  private final Vertx vertx;
  private final AnnotationRepository repo;
  private final PathResolver paths;
  private final AnnotationFiles files;
  private final AnnotationEvents events;
  private final WorkerExecutor executor;

  public AnnotationService(Vertx vertx, AnnotationRepository repo, PathResolver paths, AnnotationFiles files) {
    this.vertx = vertx;
    this.repo = repo;
    this.paths = paths;
    this.files = files;
    this.events = new AnnotationEvents(vertx);
    this.executor = vertx.createSharedWorkerExecutor("osprey-annotation-files", 4);
  }

  public AnnotationRepository repository() {
    return repo;
  }

  public PathResolver paths() {
    return paths;
  }

  public AnnotationFiles files() {
    return files;
  }

  /** CreateAnnotationRequest: image bytes (in memory or a received file) and/or a media id, plus the labels. */
  public record NewAnnotation(byte[] imageBytes, Path imageFile, String mediaId, String name, String flightId,
                              String waypointId, String source, List<Detection> detections, String user,
                              String jobId, boolean keepImageFile) {
    boolean hasImage() {
      return imageBytes != null || imageFile != null;
    }
  }

  <T> Future<T> blocking(Callable<T> work) {
    return executor.executeBlocking(work, false);
  }

  // ------------------------------------------------------------------ create

  public Future<Annotation> create(NewAnnotation r) {
    if (!r.hasImage() && r.mediaId() == null) {
      return Future.failedFuture(new OspreyException(ErrorCode.INVALID_REQUEST,
          "Send the image (base64 'image' or an 'image' file part) or the 'mediaId' of uploaded media"));
    }
    return paths.get().compose(dirs -> {
      // Everything that can reject the image (header, pixel budget, the decode that makes the thumbnail) happens
      // here, before the transaction: a bad image leaves no row, no outbox row and no file.
      Future<Prepared> prepared = r.hasImage()
          ? this.<Prepared>blocking(() -> {
            Staged s = r.imageBytes() != null ? files.stage(r.imageBytes(), dirs)
                : files.stage(r.imageFile(), dirs, r.keepImageFile());
            return new Prepared(s, s.thumbnail());
          }).recover(AnnotationService::<Prepared>stagingFailure)
          : mediaThumbnail(dirs, r.mediaId()).map(thumb -> new Prepared(null, thumb));
      return prepared.compose(p -> repo.pool().withTransaction(tx -> insert(tx, dirs, r, p.staged()))
          .onFailure(e -> p.discard())
          .compose(created -> {
            CrashPoints.reach(CrashPoints.AFTER_COMMIT);
            return settle(created.annotation(), p.staged(), created.sourceImage(), p.thumbnail()).map(state -> {
              events.publish(List.of(created.event()));
              return withState(created.annotation(), state);
            });
          }));
    });
  }

  /** What was staged before the transaction: the image (null for a create from a media id) and its thumbnail. */
  private record Prepared(Staged staged, Path thumbnail) {
    void discard() {
      if (staged != null) {
        AnnotationFiles.deleteQuietly(staged.path());
      }
      AnnotationFiles.deleteQuietly(thumbnail);
    }
  }

  /**
   * A create from a media id alone: the media's image is checked and decoded into a staged thumbnail before the
   * transaction, as an uploaded image is. Null when there is nothing to decode (no such media, a video, a file gone
   * from storage): the transaction then answers the error, or the row is flagged missing, as before.
   */
  private Future<Path> mediaThumbnail(Directories dirs, String mediaId) {
    return repo.findMedia(repo.pool(), mediaId).compose(m -> {
      if (m == null || !m.mediaType().equals("Image")) {
        return Future.succeededFuture(null);
      }
      return this.<Path>blocking(() -> {
        Path source = Path.of(m.path());
        if (!Files.isRegularFile(source)) {
          return null;
        }
        AnnotationFiles.Checked c = files.check(source);
        return files.stageThumbnail(source, c.width(), c.height(), dirs, m.id());
      }).recover(AnnotationService::<Path>stagingFailure);
    });
  }

  private record Created(Annotation annotation, JsonObject event, Path sourceImage) {
  }

  private Future<Created> insert(io.vertx.sqlclient.SqlConnection tx, Directories dirs, NewAnnotation r,
                                 Staged staged) {
    Future<Media> media;
    if (r.mediaId() != null) {
      media = repo.findMedia(tx, r.mediaId()).compose(m -> {
        if (m == null) {
          return Future.failedFuture(mediaNotFound(r.mediaId()));
        }
        if (staged == null && !m.mediaType().equals("Image")) {
          return Future.failedFuture(new OspreyException(ErrorCode.INVALID_REQUEST, "Media " + m.id()
              + " is a video: send the annotated frame as 'image' together with its mediaId"));
        }
        return Future.succeededFuture(m);
      });
    } else {
      Media fresh = new Media(staged.id(), r.name() != null ? r.name() : staged.id() + "." + staged.extension(),
          "Image", staged.format(), staged.size(), staged.width(), staged.height(),
          dirs.image(staged.id(), staged.extension()).toString(), r.flightId(), r.waypointId(), "New", "pending",
          r.user(), null);
      media = repo.insertMediaIfAbsent(tx, fresh).compose(x -> repo.findMedia(tx, staged.id()));
    }
    return media.compose(m -> {
      String id = staged != null ? staged.id() : m.id();
      String ext = staged != null ? staged.extension() : extension(m.path());
      int width = staged != null ? staged.width() : m.width() == null ? 0 : m.width();
      int height = staged != null ? staged.height() : m.height() == null ? 0 : m.height();
      String name = r.name() != null ? r.name() : m.name();
      Annotation a = new Annotation(id, m.id(), name, r.flightId() != null ? r.flightId() : m.flightId(),
          r.waypointId() != null ? r.waypointId() : m.waypointId(), r.source(), AnnotationStatus.CREATED, ext, width,
          height, r.jobId(), "pending", 1, r.user(), null, null, r.detections());
      return repo.insertAnnotation(tx, a).compose(createdAt -> {
        if (createdAt == null) {
          return Future.failedFuture(OspreyException.of(ErrorCode.ANNOTATION_EXISTS,
              "An annotation of this image already exists: " + id, "id", id));
        }
        Annotation stored = new Annotation(a.id(), a.mediaId(), a.name(), a.flightId(), a.waypointId(), a.source(),
            a.status(), a.imageExtension(), a.width(), a.height(), a.jobId(), a.filesState(), a.version(),
            a.createdBy(), createdAt, createdAt, a.detections());
        JsonObject event = AnnotationEvents.event(id, Operation.CREATED, AnnotationStatus.CREATED, m.id(),
            stored.flightId(), stored.waypointId(), stored.detections());
        return repo.insertDetections(tx, id, r.detections())
            .compose(x -> repo.outbox(tx, Operation.CREATED, List.of(id), event))
            .map(x -> {
              CrashPoints.reach(CrashPoints.BEFORE_COMMIT);
              return new Created(stored, event, staged == null ? Path.of(m.path()) : null);
            });
      });
    });
  }

  private static <T> Future<T> stagingFailure(Throwable e) {
    if (e instanceof AnnotationFiles.Rejected rejected) {
      return Future.failedFuture(new OspreyException(ErrorCode.valueOf(rejected.code()),
          rejected.getMessage()));
    }
    LOG.error("staging an annotation image failed", e);
    return Future.failedFuture(new OspreyException(ErrorCode.STORAGE_ERROR,
        "Server storage unavailable: " + e.getMessage(), e));
  }

  static String extension(String path) {
    String name = Path.of(path).getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot < 0 ? "jpg" : name.substring(dot + 1);
  }

  private static Annotation withState(Annotation a, String state) {
    return new Annotation(a.id(), a.mediaId(), a.name(), a.flightId(), a.waypointId(), a.source(), a.status(),
        a.imageExtension(), a.width(), a.height(), a.jobId(), state, a.version(), a.createdBy(), a.createdAt(),
        a.updatedAt(), a.detections());
  }

  // ------------------------------------------------------------------ post-commit files

  /**
   * Brings an annotation's files in line with its committed row: the image (from the staged copy, or copied from
   * its media file), the YOLO label (always rewritten from the row's detections) and the thumbnail; then marks the
   * row complete, or missing when no image can be found. Safe to repeat: the reconciler calls it after a crash.
   * Answers the files state reached; a storage failure leaves the row pending for the reconciler.
   */
  Future<String> settle(Annotation a, Staged staged, Path sourceImage) {
    return settle(a, staged, sourceImage, staged == null ? null : staged.thumbnail());
  }

  /** As above, with the thumbnail made before the commit ({@code stagedThumbnail}, null when none was). */
  Future<String> settle(Annotation a, Staged staged, Path sourceImage, Path stagedThumbnail) {
    return paths.get().compose(dirs -> blocking(() -> {
      Path image = dirs.image(a.id(), a.imageExtension());
      if (staged != null) {
        files.publish(staged.path(), image);
      } else if (!Files.exists(image)) {
        List<Path> leftovers = AnnotationFiles.stagedFor(dirs.staging(), a.id());
        if (!leftovers.isEmpty()) {
          files.publish(leftovers.get(0), image);
          leftovers.stream().skip(1).forEach(AnnotationFiles::deleteQuietly);
        } else if (sourceImage != null && Files.isRegularFile(sourceImage)) {
          Path partial = image.resolveSibling(image.getFileName() + ".copy.partial");
          Files.createDirectories(image.getParent());
          Files.copy(sourceImage, partial, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
          AnnotationFiles.move(partial, image);
        }
      }
      CrashPoints.reach(CrashPoints.AFTER_IMAGE);
      files.writeLabel(dirs.label(a.id()), a.detections());
      CrashPoints.reach(CrashPoints.AFTER_LABEL);
      if (!Files.exists(image)) {
        AnnotationFiles.deleteQuietly(stagedThumbnail);
        return "missing";
      }
      Path thumbnail = dirs.thumbnail(a.id());
      if (stagedThumbnail != null && Files.exists(stagedThumbnail)) {
        files.publish(stagedThumbnail, thumbnail);
      } else if (!Files.exists(thumbnail)) {
        List<Path> leftovers = AnnotationFiles.stagedFor(dirs.thumbnailStaging(), a.id());
        if (!leftovers.isEmpty()) {
          // Made before a commit that a crash then interrupted.
          files.publish(leftovers.get(0), thumbnail);
          leftovers.stream().skip(1).forEach(AnnotationFiles::deleteQuietly);
        } else {
          try {
            files.writeThumbnail(image, thumbnail);
          } catch (AnnotationFiles.Rejected e) {
            // Only images stored before the pixel budget existed get here (every new one was decoded before its
            // commit). Retrying cannot help: flag the row instead of failing it every reconciler pass.
            LOG.warn("annotation {}: its image cannot be decoded ({}: {}); flagged files_state=missing", a.id(),
                e.code(), e.getMessage());
            return "missing";
          }
        }
      }
      CrashPoints.reach(CrashPoints.AFTER_FILES);
      return "complete";
    })).compose(state -> repo.filesState(repo.pool(), a.id(), state, a.version())
        .compose(x -> state.equals("complete") && a.mediaId().equals(a.id())
            ? repo.mediaFilesState(repo.pool(), a.id(), "complete") : Future.succeededFuture())
        .map(state)
        .onSuccess(s -> {
          if (s.equals("missing")) {
            LOG.warn("annotation {}: image file is missing and cannot be re-derived; flagged files_state=missing",
                a.id());
          }
        }))
        .recover(e -> {
          LOG.error("annotation {}: files not written after commit ({}); the reconciler will retry", a.id(),
              e.toString());
          return Future.succeededFuture("pending");
        });
  }

  // ------------------------------------------------------------------ update, delete, status

  /** Replaces the detections (and optionally name, flight, waypoint); status becomes Edited. */
  public Future<Annotation> update(String id, String name, String flightId, String waypointId,
                                   List<Detection> detections) {
    return repo.pool().withTransaction(tx -> repo.lock(tx, id).compose(current -> {
      if (current == null || current.status() == AnnotationStatus.DELETED
          || current.filesState().equals("purging")) {
        return Future.failedFuture(notFound(id, current));
      }
      return repo.markEdited(tx, id, name, flightId, waypointId)
          .compose(updatedAt -> repo.deleteDetections(tx, id)
              .compose(x -> repo.insertDetections(tx, id, detections))
              .compose(x -> repo.find(tx, id))
              .compose(edited -> {
                JsonObject event = AnnotationEvents.event(id, Operation.EDITED, AnnotationStatus.EDITED,
                    edited.mediaId(), edited.flightId(), edited.waypointId(), edited.detections());
                return repo.outbox(tx, Operation.EDITED, List.of(id), event).map(x -> new Created(edited, event,
                    null));
              }));
    })).compose(done -> mediaPath(done.annotation())
        .compose(source -> settle(done.annotation(), null, source))
        .map(state -> {
          events.publish(List.of(done.event()));
          return withState(done.annotation(), state);
        }));
  }

  private Future<Path> mediaPath(Annotation a) {
    return repo.findMedia(repo.pool(), a.mediaId()).map(m -> m == null ? null : Path.of(m.path()));
  }

  static OspreyException mediaNotFound(String id) {
    return OspreyException.of(ErrorCode.MEDIA_NOT_FOUND, "Media not found: " + id, "mediaId", id);
  }

  static OspreyException notFound(String id) {
    return notFound(id, null);
  }

  private static OspreyException notFound(String id, Annotation current) {
    String why = current == null ? "Annotation not found: " + id : "Annotation " + id + " is deleted";
    return OspreyException.of(ErrorCode.ANNOTATION_NOT_FOUND, why, "id", id);
  }

  /**
   * Soft delete (status Deleted = 40; the row and files stay); with {@code purge}, the files are removed and the row
   * after them. Deleting an already deleted annotation changes nothing and publishes nothing.
   */
  public Future<Void> delete(String id, boolean purge) {
    return repo.pool().withTransaction(tx -> repo.lock(tx, id).compose(current -> {
      if (current == null || current.filesState().equals("purging")) {
        return Future.failedFuture(notFound(id, null));
      }
      Future<List<JsonObject>> change = current.status() == AnnotationStatus.DELETED
          ? Future.succeededFuture(List.of())
          : statusChange(tx, List.of(id), AnnotationStatus.DELETED);
      return change.compose(evts -> (purge ? repo.markPurging(tx, id) : Future.<Void>succeededFuture())
          .map(x -> new Object[] {current, evts}));
    })).compose(result -> {
      Annotation current = (Annotation) result[0];
      @SuppressWarnings("unchecked")
      List<JsonObject> evts = (List<JsonObject>) result[1];
      events.publish(evts);
      return purge ? purgeFiles(current) : Future.succeededFuture();
    });
  }

  /** Removes a purging annotation's files, then its row. The image stays when it is also its media's file. */
  Future<Void> purgeFiles(Annotation a) {
    return paths.get().compose(dirs -> blocking(() -> {
      if (!a.mediaId().equals(a.id())) {
        Files.deleteIfExists(dirs.image(a.id(), a.imageExtension()));
      }
      Files.deleteIfExists(dirs.label(a.id()));
      Files.deleteIfExists(dirs.thumbnail(a.id()));
      return null;
    })).compose(x -> repo.deleteRow(repo.pool(), a.id()));
  }

  /** The result of a status change: annotations changed, and those of the request that do not exist. */
  public record StatusResult(List<String> changed, List<String> notFound, AnnotationStatus status) {
    public JsonObject toJson() {
      return new JsonObject().put("status", status.wire()).put("updated", changed.size())
          .put("annotationIds", new JsonArray(List.copyOf(changed))).put("notFound", new JsonArray(List.copyOf(notFound)));
    }
  }

  /**
   * Sets one status on many annotations in one UPDATE statement (F8): all listed rows change or none. Writes one
   * outbox row for the whole change (a bulk message) and publishes one live event per changed annotation.
   */
  public Future<StatusResult> setStatus(List<String> ids, AnnotationStatus status, boolean bulk) {
    List<String> unique = new ArrayList<>(new LinkedHashSet<>(ids));
    return repo.pool().withTransaction(tx -> repo.existing(tx, unique).compose(present -> {
      List<String> missing = unique.stream().filter(i -> !present.contains(i)).toList();
      if (!bulk && !missing.isEmpty()) {
        return Future.failedFuture(notFound(unique.get(0), null));
      }
      if (present.isEmpty()) {
        return Future.succeededFuture(new Object[] {new StatusResult(List.of(), missing, status), List.of()});
      }
      return statusChange(tx, present, status).map(evts -> new Object[] {new StatusResult(
          evts.stream().map(e -> e.getString("annotationId")).toList(), missing, status), evts});
    })).map(result -> {
      @SuppressWarnings("unchecked")
      List<JsonObject> evts = (List<JsonObject>) result[1];
      events.publish(evts);
      return (StatusResult) result[0];
    });
  }

  /** UPDATE + outbox in the caller's transaction; the live events to publish once it commits. */
  private Future<List<JsonObject>> statusChange(io.vertx.sqlclient.SqlClient tx, List<String> ids,
                                                AnnotationStatus status) {
    String operation = status.operationOfChange();
    return repo.setStatus(tx, ids, status).compose(rows -> {
      List<JsonObject> evts = new ArrayList<>();
      List<String> changed = new ArrayList<>();
      for (Row r : rows) {
        changed.add(r.getString("id"));
        evts.add(AnnotationEvents.event(r.getString("id"), operation, status, r.getString("media_id"),
            r.getString("flight_id"), r.getString("waypoint_id"), null));
      }
      if (changed.isEmpty()) {
        return Future.succeededFuture(evts);
      }
      JsonObject payload = changed.size() == 1 ? evts.get(0)
          : new JsonObject().put("annotationIds", new JsonArray(List.copyOf(changed))).put("operation", operation)
              .put("status", status.wire()).put("time", Instant.now().toString());
      return repo.outbox(tx, operation, changed, payload).map(x -> evts);
    });
  }

  public void close() {
    executor.close();
  }
}
