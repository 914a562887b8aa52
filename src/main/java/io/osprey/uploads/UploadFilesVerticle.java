package io.osprey.uploads;

import io.osprey.bus.Bus;
import io.osprey.imaging.ImageBudget;
import io.osprey.imaging.ImageInspector;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Blocking file work of uploads, deployed as a worker verticle so the HTTP event loop never touches the disk
 * synchronously: header inspection of received files, the move into the final folder, and clean-up.
 */
public final class UploadFilesVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(UploadFilesVerticle.class);

  private final ImageBudget budget;

  public UploadFilesVerticle(ImageBudget budget) {
    this.budget = budget;
  }

  @Override
  public Future<?> start() {
    var bus = vertx.eventBus();
    return Future.all(
        bus.<JsonObject>localConsumer(Bus.UPLOAD_INSPECT, this::inspect).completion(),
        bus.<JsonObject>localConsumer(Bus.UPLOAD_STORE, this::store).completion(),
        bus.<JsonObject>localConsumer(Bus.UPLOAD_DISCARD, this::discard).completion());
  }

  private void inspect(Message<JsonObject> message) {
    Bus.InspectFile request = Bus.InspectFile.fromJson(message.body());
    try {
      ImageInspector.Result r = ImageInspector.inspect(Path.of(request.path()), request.fileName());
      String format = r.ok() ? r.format().name() : null;
      // The pixel budget is checked here, from the header, so that no file the job runner would have to decode
      // beyond it is ever stored (the per-side uploads.max_dimension is checked by the handler).
      String tooLarge = r.ok() ? budget.violation(r.width(), r.height()) : null;
      if (tooLarge != null) {
        message.reply(new Bus.Inspection(format, r.width(), r.height(), "INVALID_DIMENSIONS", tooLarge).toJson());
        return;
      }
      message.reply(new Bus.Inspection(format, r.width(), r.height(), r.errorCode(), r.errorMessage()).toJson());
    } catch (IOException e) {
      LOG.error("cannot read received file {}: {}", request.path(), e.toString());
      message.fail(Bus.FAILURE_STORAGE, "cannot read received file: " + e.getMessage());
    }
  }

  /** All moves or none: a failure part-way puts nothing in the final folder. */
  private void store(Message<JsonObject> message) {
    Bus.StoreUpload request = Bus.StoreUpload.fromJson(message.body());
    Path directory = Path.of(request.directory());
    List<Path> done = new ArrayList<>();
    try {
      Files.createDirectories(directory);
      for (Bus.Move move : request.moves()) {
        Path to = Path.of(move.to());
        moveAtomically(Path.of(move.from()), to);
        done.add(to);
      }
      message.reply(null);
    } catch (IOException | RuntimeException e) {
      LOG.error("storing upload in {} failed: {}", directory, e.toString());
      deleteQuietly(directory);
      message.fail(Bus.FAILURE_STORAGE, e.getClass().getSimpleName() + ": " + e.getMessage());
    }
  }

  private void discard(Message<JsonObject> message) {
    Bus.DiscardFiles request = Bus.DiscardFiles.fromJson(message.body());
    request.paths().forEach(p -> deleteQuietly(Path.of(p)));
    message.reply(null);
  }

  private static void moveAtomically(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      // Only when tmp and uploads sit on different file systems; a copy then rename keeps readers from half files.
      Path partial = to.resolveSibling(to.getFileName() + ".partial");
      Files.copy(from, partial, StandardCopyOption.REPLACE_EXISTING);
      Files.move(partial, to, StandardCopyOption.ATOMIC_MOVE);
      Files.delete(from);
    }
  }

  static void deleteQuietly(Path path) {
    io.osprey.storage.FileTrees.deleteTree(path);
  }
}
