package io.osprey.annotations;

import io.osprey.annotations.AnnotationRepository.Annotation;
import io.osprey.annotations.AnnotationRepository.Media;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Repairs what a crash between commit and files left behind (RB-03), at start and then periodically:
 * <ul>
 *   <li>annotations still {@code pending} after annotations.reconcile_after_seconds get their files re-derived
 *   (the staged image is published or the media file copied; label and thumbnail rewritten) or, when the image is
 *   gone for good, are flagged {@code missing};</li>
 *   <li>annotations left {@code purging} lose their files, then their row;</li>
 *   <li>media still {@code pending} get their staged file published, else are flagged {@code missing};</li>
 *   <li>staged files (images and thumbnails) that no pending row claims (a crash before commit) are deleted.</li>
 * </ul>
 * Every instance may run one: all steps are idempotent, and rows younger than the threshold are left to their
 * writer.
 */
public final class Reconciler extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(Reconciler.class);
  private static final int BATCH = 200;
  private static final Duration PART_GRACE = Duration.ofHours(1);

  private final AnnotationService service;
  private final Duration after;
  private final Duration interval;
  private final AtomicBoolean running = new AtomicBoolean();
  private long timer = -1;
  private volatile Instant lastRun;

  public Reconciler(AnnotationService service, Duration after, Duration interval) {
    this.service = service;
    this.after = after;
    this.interval = interval;
  }

  @Override
  public Future<?> start() {
    timer = vertx.setPeriodic(0, interval.toMillis(), t -> runOnce());
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timer);
    return Future.succeededFuture();
  }

  public Instant lastRun() {
    return lastRun;
  }

  /** One pass; a pass still running makes this a no-op. Completes when the pass is done. */
  public Future<Integer> runOnce() {
    if (!running.compareAndSet(false, true)) {
      return Future.succeededFuture(0);
    }
    long seconds = after.toSeconds();
    AnnotationRepository repo = service.repository();
    return repo.unsettled(seconds, BATCH).compose(annotations -> {
      Future<Integer> chain = Future.succeededFuture(0);
      for (Annotation a : annotations) {
        chain = chain.compose(n -> repair(a).map(n + 1).recover(e -> {
          LOG.warn("reconciler: annotation {} not repaired yet: {}", a.id(), e.toString());
          return Future.succeededFuture(n);
        }));
      }
      return chain;
    }).compose(n -> repo.pendingMedia(seconds, BATCH).compose(media -> {
      Future<Integer> chain = Future.succeededFuture(n);
      for (Media m : media) {
        chain = chain.compose(k -> repairMedia(m).map(k + 1).recover(e -> Future.succeededFuture(k)));
      }
      return chain;
    })).compose(n -> sweepStaging().map(swept -> n + swept)).onComplete(r -> {
      running.set(false);
      lastRun = Instant.now();
      if (r.succeeded() && r.result() > 0) {
        LOG.info("reconciler: repaired or removed {} item(s)", r.result());
      } else if (r.failed()) {
        LOG.warn("reconciler pass failed: {}", r.cause().toString());
      }
    });
  }

  private Future<Void> repair(Annotation a) {
    if (a.filesState().equals("purging")) {
      return service.purgeFiles(a);
    }
    return service.repository().findMedia(service.repository().pool(), a.mediaId())
        .compose(m -> service.settle(a, null, m == null ? null : Path.of(m.path())))
        .compose(state -> state.equals("pending") ? Future.failedFuture("storage still failing")
            : Future.succeededFuture());
  }

  private Future<Void> repairMedia(Media m) {
    return service.paths().get().compose(dirs -> service.blocking(() -> {
      Path target = Path.of(m.path());
      if (!Files.exists(target)) {
        Path stagingDir = m.mediaType().equals("Image") ? dirs.staging() : dirs.videos().resolve(".staging");
        List<Path> staged = AnnotationFiles.stagedFor(stagingDir, m.id());
        if (!staged.isEmpty()) {
          service.files().publish(staged.get(0), target);
        }
      }
      return Files.exists(target) ? "complete" : "missing";
    })).compose(state -> service.repository().mediaFilesState(service.repository().pool(), m.id(), state));
  }

  /** Staged files older than the threshold whose id no pending row claims. */
  private Future<Integer> sweepStaging() {
    return service.paths().get().compose(dirs -> service.blocking(() -> {
      List<Path> candidates = new ArrayList<>();
      Instant cutoff = Instant.now().minus(after);
      // A .part file is still being checked or decoded (it may wait for the decode budget) and has no content id
      // yet, so no row can claim it: only one far older than any request is a crash's leftover.
      Instant partCutoff = Instant.now().minus(after.compareTo(PART_GRACE) > 0 ? after : PART_GRACE);
      for (Path dir : List.of(dirs.staging(), dirs.thumbnailStaging(), dirs.videos().resolve(".staging"))) {
        if (!Files.isDirectory(dir)) {
          continue;
        }
        try (var files = Files.list(dir)) {
          files.filter(p -> {
            try {
              FileTime t = Files.getLastModifiedTime(p);
              return t.toInstant().isBefore(p.getFileName().toString().endsWith(".part") ? partCutoff : cutoff);
            } catch (IOException e) {
              return false;
            }
          }).forEach(candidates::add);
        }
      }
      return candidates;
    })).compose(candidates -> {
      if (candidates.isEmpty()) {
        return Future.succeededFuture(0);
      }
      Set<String> ids = new HashSet<>();
      candidates.forEach(p -> ids.add(idOf(p)));
      return service.repository().pool().preparedQuery("SELECT id FROM annotations WHERE id = ANY($1)"
              + " AND files_state = 'pending' UNION SELECT id FROM media WHERE id = ANY($1) AND files_state = 'pending'")
          .execute(io.vertx.sqlclient.Tuple.of(ids.toArray(String[]::new)))
          .compose(rows -> {
            Set<String> claimed = new HashSet<>();
            rows.forEach(r -> claimed.add(r.getString("id")));
            List<Path> orphans = candidates.stream().filter(p -> !claimed.contains(idOf(p))).toList();
            return service.blocking(() -> {
              orphans.forEach(AnnotationFiles::deleteQuietly);
              if (!orphans.isEmpty()) {
                LOG.info("reconciler: removed {} staged file(s) of uncommitted writes", orphans.size());
              }
              return orphans.size();
            });
          });
    });
  }

  private static String idOf(Path p) {
    String name = p.getFileName().toString();
    int dot = name.indexOf('.');
    return dot < 0 ? name : name.substring(0, dot);
  }
}
