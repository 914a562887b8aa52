package io.osprey.jobs;

import io.osprey.errors.ErrorCode;
import io.osprey.http.ApiError;
import io.osprey.http.RequestIds;
import io.osprey.http.Responses;
import io.osprey.inference.ModelDescription;
import io.osprey.inference.ModelRegistry;
import io.osprey.rules.RuleSets;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a client may choose for a job: the models ({@code GET /api/v1/models}) and the rule sets
 * ({@code GET /api/v1/rule-sets}), so a UI offers exactly what predict accepts. Both look at the disk (the folders,
 * each model's header), so they run on Vert.x's worker pool, never on the event loop.
 */
final class CatalogApi {
  private static final Logger LOG = LoggerFactory.getLogger(CatalogApi.class);
  private final Vertx vertx;
  private final ModelRegistry models;
  private final RuleSets ruleSets;

  CatalogApi(Vertx vertx, ModelRegistry models, RuleSets ruleSets) {
    this.vertx = vertx;
    this.models = models;
    this.ruleSets = ruleSets;
  }

  void mount(Router router) {
    router.get("/api/v1/models").handler(ctx -> answer(ctx, this::models));
    router.get("/api/v1/rule-sets").handler(ctx -> answer(ctx, this::ruleSets));
  }

  private JsonObject models() {
    JsonArray list = new JsonArray();
    for (ModelDescription m : models.describeAll()) {
      list.add(new JsonObject()
          .put("name", m.name())
          .put("default", m.name().equals(models.defaultModel()))
          .put("layout", m.layout())
          .put("input_width", m.inputWidth())
          .put("input_height", m.inputHeight())
          .put("classes", m.classes() == null ? null : new JsonArray(m.classes()))
          .put("size_bytes", m.sizeBytes())
          .put("device", m.device())
          .put("error", m.error()));
    }
    return new JsonObject().put("default_model", models.defaultModel()).put("models", list);
  }

  private JsonObject ruleSets() {
    JsonArray list = new JsonArray();
    ruleSets.summaries().forEach(r -> list.add(new JsonObject().put("name", r.name())
        .put("description", r.description())));
    return new JsonObject().put("rule_sets", list);
  }

  private void answer(RoutingContext ctx, Callable<JsonObject> read) {
    // Unordered: two requests need not wait for each other's disk reads.
    vertx.executeBlocking(read, false).onComplete(done -> {
      if (done.succeeded()) {
        ctx.response().putHeader("Cache-Control", "no-cache");
        Responses.json(ctx, 200, done.result());
      } else {
        LOG.error("rid={} listing {} failed: {}", RequestIds.of(ctx), ctx.request().path(), done.cause().toString());
        Responses.error(ctx, ApiError.of(ErrorCode.STORAGE_ERROR));
      }
    });
  }
}
