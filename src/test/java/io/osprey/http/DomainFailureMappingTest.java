package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.osprey.errors.ErrorCode;
import io.osprey.errors.OspreyException;
import io.osprey.testing.UnitTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A service's OspreyException is answered in exactly the bytes the same ApiError would have produced. */
@UnitTest
class DomainFailureMappingTest {
  @Test
  void aDomainFailureWithADetailEncodesLikeTheApiErrorItReplaces() {
    String mapped = ApiError.of(OspreyException.of(ErrorCode.ANNOTATION_EXISTS,
        "An annotation of this image already exists: abc", "id", "abc")).toJson("rid").encode();
    String before = ApiError.of(ErrorCode.ANNOTATION_EXISTS, "An annotation of this image already exists: abc")
        .withDetails(new JsonObject().put("id", "abc")).toJson("rid").encode();
    assertEquals(before, mapped);
    assertEquals(409, ApiError.of(new OspreyException(ErrorCode.ANNOTATION_EXISTS, "x")).status());
  }

  @Test
  void aDomainFailureWithoutDetailsOrErrorsHasNeitherKey() {
    JsonObject body = ApiError.of(new OspreyException(ErrorCode.INVALID_REQUEST, "Send the image",
        new IllegalStateException("cause"))).toJson("rid");
    assertEquals(ApiError.of(ErrorCode.INVALID_REQUEST, "Send the image").toJson("rid").encode(), body.encode());
    assertFalse(body.containsKey("details"));
    assertFalse(body.containsKey("errors"));
  }

  @Test
  void detailsKeepTheirOrderAndFieldErrorsBecomeFieldAndMessage() {
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("id", 40);
    details.put("uses", 3L);
    String mapped = ApiError.of(new OspreyException(ErrorCode.INVALID_CONFIG, "2 invalid fields", details,
        List.of(new OspreyException.FieldError("config.a", "must be a number"),
            new OspreyException.FieldError("config.b", "unknown field")), null)).toJson("rid").encode();
    String before = ApiError.of(ErrorCode.INVALID_CONFIG, "2 invalid fields")
        .withDetails(new JsonObject().put("id", 40).put("uses", 3L))
        .withErrors(new JsonArray()
            .add(new JsonObject().put("field", "config.a").put("message", "must be a number"))
            .add(new JsonObject().put("field", "config.b").put("message", "unknown field")))
        .toJson("rid").encode();
    assertEquals(before, mapped);
  }
}
