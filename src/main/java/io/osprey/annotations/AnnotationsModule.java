package io.osprey.annotations;

import io.osprey.auth.TokenVerifier;
import io.osprey.events.AnnotationStatuses;
import io.osprey.imaging.ImageBudget;
import io.osprey.jobs.AnnotationSink;
import io.osprey.module.OspreyModule;
import io.osprey.storage.StorageLayout;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Annotations and media. Every role has the service (workers write detections through it) and keeps the
 * directory and class caches fresh from database notifications; where the API runs, the module also serves the
 * annotation, media and admin routes and reconciles annotations whose files did not get written.
 */
public final class AnnotationsModule implements OspreyModule {
  private static final Logger LOG = LoggerFactory.getLogger(AnnotationsModule.class);
  private final AnnotationsSettings settings;
  /** Dataset exports running in this process, over every HTTP instance: each holds a database connection. */
  private final java.util.concurrent.Semaphore exportSlots;
  private final boolean api;
  private final StorageLayout layout;
  private final TokenVerifier verifier;
  private final Handler<RoutingContext> diskGate;
  private final PathResolver paths;
  private final ClassCatalog classes;
  private final AnnotationService service;
  private final CacheInvalidation invalidation;
  private final Reconciler reconciler;

  /**
   * {@code api}: whether this process serves the routes and reconciles; {@code diskGate}: refuses new files while
   * the disk is low, before a create reads its body.
   */
  public AnnotationsModule(Vertx vertx, AnnotationsSettings settings, boolean api, Pool pool, StorageLayout layout,
                           ImageBudget imageBudget, TokenVerifier verifier,
                           Handler<RoutingContext> diskGate) {
    this.settings = settings;
    this.exportSlots = new java.util.concurrent.Semaphore(settings.maxConcurrentExports());
    this.api = api;
    this.layout = layout;
    this.verifier = verifier;
    this.diskGate = diskGate;
    this.paths = new PathResolver(pool, layout.root().resolve(settings.rootsBase()));
    this.classes = new ClassCatalog(pool);
    this.service = new AnnotationService(vertx, new AnnotationRepository(pool), paths,
        new AnnotationFiles(settings.thumbnailSize(), imageBudget));
    this.invalidation = new CacheInvalidation(vertx, settings.notifications(),
        Map.of(PathResolver.CHANNEL_PAYLOAD, paths::reset, ClassCatalog.CHANNEL_PAYLOAD, classes::reset));
    this.reconciler = api ? new Reconciler(service, settings.reconcileAfter(), settings.reconcileInterval()) : null;
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    Future<Void> listening = seedClasses(vertx).compose(x -> invalidation.start());
    return reconciler == null ? listening : listening.compose(x -> vertx.deployVerticle(reconciler)).mapEmpty();
  }

  /**
   * Loads annotations.classes_file into an empty catalog, once per database (see {@link ClassCatalog#seedOnce}).
   * At start rather than in a migration: the file is the operator's (conf/, replaceable without a build), and a
   * migration would bake one catalog into every database. A file that cannot be read or parsed stops the start.
   */
  private Future<Void> seedClasses(Vertx vertx) {
    String file = settings.classesFile();
    if (file == null || file.isBlank()) {
      return Future.succeededFuture();
    }
    return vertx.executeBlocking(() -> {
      try {
        return ClassCatalog.parseSeed(Files.readString(Path.of(file)), file);
      } catch (IOException e) {
        throw new IllegalStateException("annotations.classes_file: cannot read " + Path.of(file).toAbsolutePath()
            + " (" + e.getClass().getSimpleName() + "); set OSPREY_ANNOTATIONS_CLASSES_FILE, or empty to load none");
      } catch (IllegalArgumentException e) {
        throw new IllegalStateException("annotations.classes_file: " + e.getMessage());
      }
    }, false).compose(seed -> classes.seedOnce(seed, file)).map(loaded -> {
      if (loaded > 0) {
        LOG.info("class catalog was empty: loaded {} classes from {}", loaded, file);
        classes.reset();
      }
      return null;
    });
  }

  @Override
  public void mount(Router router) {
    if (!api) {
      return;
    }
    // Before the annotation routes' own token checks, so a refused create never starts receiving its body.
    router.post("/annotations").handler(diskGate);
    router.post("/media").handler(diskGate);
    router.post("/media/batch").handler(diskGate);
    new DatasetExportApi(service, classes, verifier, settings.notifications(), exportSlots).mount(router);
    new AnnotationsApi(service, classes, verifier, layout.tmp(), settings.maxImageBytes()).mount(router);
    new MediaApi(service, verifier, layout.tmp(), settings.mediaMaxRequestBytes(), settings.mediaMaxFiles(),
        settings.maxImageBytes()).mount(router);
    new AdminApi(service, classes, verifier).mount(router);
  }

  @Override
  public Future<Void> stop() {
    return invalidation.close();
  }

  public AnnotationService service() {
    return service;
  }

  /** How the job runner writes detections as annotations (the jobs module owns the interface). */
  public AnnotationSink jobSink() {
    return new JobAnnotations(service);
  }

  /** The annotation status vocabulary, for the events module's status filter. */
  public AnnotationStatuses statuses() {
    return new AnnotationStatuses() {
      @Override
      public String wireName(String value) {
        AnnotationStatus status = AnnotationStatus.parse(value);
        return status == null ? null : status.wire();
      }

      @Override
      public String names() {
        return AnnotationStatus.names();
      }
    };
  }

  /** Where annotation files are written (the outbox reads them back). */
  public PathResolver paths() {
    return paths;
  }

  /** The reconciler (null where the API does not run). */
  public Reconciler reconciler() {
    return reconciler;
  }
}
