package io.osprey.uploads;

import io.osprey.imaging.ImageBudget;
import io.osprey.module.OspreyModule;
import io.osprey.storage.StorageLayout;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.sqlclient.Pool;

/**
 * Image uploads of the API role: the upload route, the worker verticles that inspect and store the files (over the
 * event bus), and the janitor that removes temporary files nobody claimed.
 */
public final class UploadsModule implements OspreyModule {
  private final UploadsSettings settings;
  private final ImageBudget imageBudget;
  private final UploadHandler handler;
  private final Handler<RoutingContext> diskGate;
  private final StorageJanitorVerticle janitor;

  /** {@code diskGate}: refuses new files while the disk is low; runs before the upload reads its body. */
  public UploadsModule(Vertx vertx, UploadsSettings settings, Pool pool, StorageLayout layout,
                       ImageBudget imageBudget, Handler<RoutingContext> diskGate) {
    this.settings = settings;
    this.imageBudget = imageBudget;
    this.diskGate = diskGate;
    UploadRepository uploads = new UploadRepository(pool);
    this.handler = new UploadHandler(vertx, layout, uploads, settings.limits());
    this.janitor = new StorageJanitorVerticle(layout, uploads, settings.tmpMaxAge());
  }

  @Override
  public Future<Void> deploy(Vertx vertx) {
    return vertx.deployVerticle(() -> new UploadFilesVerticle(imageBudget), new DeploymentOptions()
            .setThreadingModel(ThreadingModel.WORKER)
            .setInstances(settings.workerInstances()))
        .compose(x -> vertx.deployVerticle(janitor,
            new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)))
        .mapEmpty();
  }

  @Override
  public void mount(Router router) {
    router.post("/api/v1/inference/upload").handler(diskGate);
    router.post("/api/v1/inference/upload").handler(handler);
  }

  public StorageJanitorVerticle janitor() {
    return janitor;
  }
}
