package io.osprey.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.errors.ErrorCode;
import io.osprey.testing.UnitTest;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/** What PostgreSQL cannot store is found wherever it hides in a request, and named by its field. */
@UnitTest
class TextTest {
  @Test
  void nulAndUnpairedSurrogatesAreProblemsAndPairedSurrogatesAreNot() {
    assertNull(Text.problem("plain ünïcödé 🚁"));
    assertNull(Text.problem(null));
    assertTrue(Text.problem("a\u0000b").contains("NUL"));
    assertTrue(Text.problem("a\ud800").contains("unpaired surrogate (U+D800)"));
    assertTrue(Text.problem("\udc00a").contains("unpaired surrogate (U+DC00)"));
  }

  @Test
  void theFirstProblemInAJsonTreeIsNamedByItsPath() {
    JsonObject body = new JsonObject().put("flightId", "f1").put("detections", new JsonArray()
        .add(new JsonObject().put("label", "car")).add(new JsonObject().put("label", "b\u0000us")));
    assertEquals("detections[1].label: contains a NUL character (U+0000), which cannot be stored",
        Text.firstProblem(body, ""));
    assertTrue(Text.firstProblem(new JsonObject().put("k\ud800", 1), "").startsWith("(a property name)"));
    assertNull(Text.firstProblem(new JsonObject().put("ok", new JsonArray().add("fine").add(3)), ""));
  }

  @Test
  void jsonBodiesTakeStringsBeyondJacksonsDefaultLimitAndRefuseBadText() {
    String big = "x".repeat(21_000_000);
    Buffer body = Buffer.buffer("{\"image\":\"" + big + "\"}");
    assertEquals(big.length(), JsonBodies.object(body, body.length()).getString("image").length());
    ApiException nul = assertThrows(ApiException.class,
        () -> JsonBodies.object(Buffer.buffer("{\"name\":\"a\\u0000\"}"), 100));
    assertEquals(ErrorCode.INVALID_REQUEST, nul.error().code());
    assertEquals("name", nul.error().errors().getJsonObject(0).getString("field"));
    assertThrows(ApiException.class, () -> JsonBodies.object(Buffer.buffer("[1]"), 100));
    assertThrows(ApiException.class, () -> JsonBodies.object(Buffer.buffer("{nope"), 100));
  }
}
