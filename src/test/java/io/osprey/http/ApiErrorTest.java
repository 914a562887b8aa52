package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.osprey.errors.ErrorCode;
import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

@UnitTest
class ApiErrorTest {
  private static JsonArray problems(int n) {
    JsonArray a = new JsonArray();
    for (int i = 0; i < n; i++) {
      a.add(new JsonObject().put("field", "k" + i).put("message", "unknown setting"));
    }
    return a;
  }

  @Test
  void aHostileBodyWithThousandsOfBadFieldsGetsTheFirstHundredListedAndTheTotalCounted() {
    JsonObject body = ApiError.of(ErrorCode.INVALID_REQUEST).withErrors(problems(50_000)).toJson("rid");
    assertEquals(ApiError.MAX_LISTED_ERRORS, body.getJsonArray("errors").size());
    assertEquals("k0", body.getJsonArray("errors").getJsonObject(0).getString("field"));
    assertEquals(50_000, body.getInteger("errors_total"));
  }

  @Test
  void upToTheLimitEveryProblemIsListedWithoutATotal() {
    JsonObject body = ApiError.of(ErrorCode.INVALID_REQUEST).withErrors(problems(100)).toJson("rid");
    assertEquals(100, body.getJsonArray("errors").size());
    assertFalse(body.containsKey("errors_total"));
  }
}
