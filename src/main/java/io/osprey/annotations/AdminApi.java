package io.osprey.annotations;

import io.osprey.auth.AuthHandler;
import io.osprey.auth.Permission;
import io.osprey.auth.TokenVerifier;
import io.osprey.http.ApiError;
import io.osprey.errors.ErrorCode;
import io.osprey.http.RequestContract;
import io.osprey.http.Responses;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** F7 directory settings and the RB-06 class catalog; changes need ADM, reading classes needs ANN or DATASET. */
public final class AdminApi {
  private final AnnotationService service;
  private final ClassCatalog classes;
  private final TokenVerifier verifier;

  public AdminApi(AnnotationService service, ClassCatalog classes, TokenVerifier verifier) {
    this.service = service;
    this.classes = classes;
    this.verifier = verifier;
  }

  public void mount(Router router) {
    AuthHandler adm = new AuthHandler(verifier, Permission.ADM, false);
    AuthHandler read = AuthHandler.anyOf(verifier, Permission.ANN, Permission.DATASET);
    BodyHandler small = BodyHandler.create(false).setBodyLimit(1 << 20);
    adm.guard(router.get("/settings/directories")).handler(this::getDirectories);
    adm.guard(router.put("/settings/directories"));
    router.put("/settings/directories").handler(small).handler(this::putDirectories);
    read.guard(router.get("/classes")).handler(this::listClasses);
    adm.guard(router.post("/classes"));
    router.post("/classes").handler(small).handler(ctx -> saveClass(ctx, null));
    adm.guard(router.put("/classes/:id"));
    router.put("/classes/:id").handler(small).handler(ctx -> {
      Integer id = classId(ctx, "updateClass");
      if (id != null) {
        saveClass(ctx, id);
      }
    });
    adm.guard(router.delete("/classes/:id")).handler(this::deleteClass);
  }

  private void getDirectories(RoutingContext ctx) {
    service.paths().reset();
    service.paths().get().onSuccess(d -> Responses.json(ctx, 200, d.toJson()))
        .onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

  /**
   * UpdateDirectoriesRequest: the fields given (camelCase, any case) replace the stored roots; absent or null fields
   * stay. Relative paths are resolved from annotations.roots_base. Every named folder must be creatable. Files
   * already stored are not moved. The contract refuses unknown names and values that are not non-blank paths of at
   * most 4096 characters; that at least one is not null, and that it can be created, is checked here.
   */
  private void putDirectories(RoutingContext ctx) {
    AnnotationsApi.checkedBody(ctx, "updateDirectories", body -> putDirectories(ctx, body));
  }

  private void putDirectories(RoutingContext ctx, JsonObject body) {
    Map<String, String> changes = new LinkedHashMap<>();
    List<String> errors = new ArrayList<>();
    for (Map.Entry<String, Object> e : body) {
      if (Directories.FIELDS.containsKey(e.getKey()) && e.getValue() instanceof String s) {
        changes.put(e.getKey(), s.strip());
      }
    }
    if (changes.isEmpty()) {
      errors.add("body: name at least one of " + String.join(", ", Directories.FIELDS.keySet()));
    }
    if (!errors.isEmpty()) {
      AnnotationsApi.fail(ctx, AnnotationsApi.invalid(errors));
      return;
    }
    Path base = service.paths().base();
    service.blocking(() -> {
      List<String> bad = new ArrayList<>();
      changes.forEach((wire, value) -> {
        try {
          Files.createDirectories(base.resolve(value));
        } catch (Exception ex) {
          bad.add(wire + ": cannot create " + base.resolve(value) + " (" + ex.getClass().getSimpleName() + ")");
        }
      });
      if (!bad.isEmpty()) {
        throw AnnotationsApi.invalid(bad);
      }
      return null;
    }).compose(x -> service.repository().pool().withTransaction(tx -> PathResolver.update(tx, changes)))
        .onSuccess(x -> {
          service.paths().reset();
          ctx.response().setStatusCode(204).end();
        })
        .onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

  private void listClasses(RoutingContext ctx) {
    classes.get().onSuccess(all -> {
      JsonArray out = new JsonArray();
      all.values().forEach(c -> out.add(c.toJson()));
      ctx.response().putHeader("Content-Type", "application/json; charset=utf-8").end(out.encode());
    }).onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

  /** The path's class id, or null after answering 404 when it is not a whole number from 0 (ClassId). */
  private static Integer classId(RoutingContext ctx, String operationId) {
    if (RequestContract.of(ctx).checkPath(operationId, ctx::pathParam).isEmpty()) {
      return Integer.parseInt(ctx.pathParam("id"));
    }
    Responses.error(ctx, ApiError.of(ErrorCode.CLASS_NOT_FOUND, "Detection class not found: " + ctx.pathParam("id")));
    return null;
  }

  private void saveClass(RoutingContext ctx, Integer pathId) {
    // The contract checks the id's range, the colour's form and the text fields' types and lengths; a name of
    // blanks and an id that differs from the path's are checked here.
    AnnotationsApi.checkedBody(ctx, pathId == null ? "createClass" : "updateClass", f -> saveClass(ctx, pathId, f));
  }

  private void saveClass(RoutingContext ctx, Integer pathId, JsonObject f) {
    List<String> errors = new ArrayList<>();
    Integer id = f.getValue("id") instanceof Number n ? n.intValue() : null;
    if (id != null && pathId != null && id.intValue() != pathId) {
      errors.add("id: " + id + " differs from the id in the path (" + pathId + ")");
    }
    String name = Wire.string(f, "name", errors);
    String shortName = Wire.string(f, "shortName", errors);
    String color = Wire.string(f, "color", errors);
    if (name == null) {
      errors.add("name: required");
    }
    if (color == null) {
      color = "#FF0000";
    }
    if (!errors.isEmpty()) {
      AnnotationsApi.fail(ctx, AnnotationsApi.invalid(errors));
      return;
    }
    String sn = shortName != null ? shortName : name;
    String shown = (id != null ? id + " / " : "") + name;
    Future<ClassCatalog.Change> change = pathId == null ? classes.create(id, name, sn, color)
        : classes.update(pathId, name, sn, color);
    change.onSuccess(c -> {
      classes.reset();
      switch (c.outcome()) {
        case OK -> {
          if (pathId == null) {
            ctx.response().putHeader("Location", "/classes/" + c.value().id());
          }
          Responses.json(ctx, pathId == null ? 201 : 200, c.value().toJson());
        }
        case NOT_FOUND -> Responses.error(ctx, ApiError.of(ErrorCode.CLASS_NOT_FOUND,
            "Detection class not found: " + pathId));
        default -> Responses.error(ctx, ApiError.of(ErrorCode.CLASS_EXISTS,
            "A detection class with this id or name already exists: " + shown));
      }
    }).onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

  private void deleteClass(RoutingContext ctx) {
    Integer id = classId(ctx, "deleteClass");
    if (id == null) {
      return;
    }
    classes.delete(id).onSuccess(c -> {
      classes.reset();
      switch (c.outcome()) {
        case OK -> ctx.response().setStatusCode(204).end();
        case NOT_FOUND -> Responses.error(ctx, ApiError.of(ErrorCode.CLASS_NOT_FOUND,
            "Detection class not found: " + id));
        default -> Responses.error(ctx, ApiError.of(ErrorCode.CLASS_IN_USE, "Detection class " + id + " is used by "
            + c.uses() + " detection(s); relabel or purge those annotations first")
            .withDetails(new JsonObject().put("id", id).put("uses", c.uses())));
      }
    }).onFailure(e -> AnnotationsApi.fail(ctx, e));
  }

}
