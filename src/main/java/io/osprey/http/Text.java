package io.osprey.http;

import io.osprey.errors.ErrorCode;
import io.vertx.core.MultiMap;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.Map;

/**
 * The one check of client text before it can reach PostgreSQL: a NUL (U+0000) is refused by PostgreSQL in text and
 * JSONB, and an unpaired UTF-16 surrogate (possible through a JSON escape such as {@code "\ud800"}) cannot be encoded
 * as UTF-8 and would be stored as '?'. Either is a client error, answered 400 naming the field, never a 5xx.
 */
public final class Text {
  private Text() {
  }

  /** What is wrong with {@code s} for storage, or null when nothing is (null is fine). */
  public static String problem(String s) {
    if (s == null) {
      return null;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == 0) {
        return "contains a NUL character (U+0000), which cannot be stored";
      }
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
          continue;
        }
        return "contains an unpaired surrogate (U+" + Integer.toHexString(c).toUpperCase() + "), which is not text";
      }
      if (Character.isLowSurrogate(c)) {
        return "contains an unpaired surrogate (U+" + Integer.toHexString(c).toUpperCase() + "), which is not text";
      }
    }
    return null;
  }

  /** The first problem in a JSON value's keys and strings, as "path: problem", or null. */
  public static String firstProblem(Object json, String path) {
    if (json instanceof String s) {
      String p = problem(s);
      return p == null ? null : path + ": " + p;
    }
    if (json instanceof JsonObject o) {
      for (Map.Entry<String, Object> e : o) {
        String key = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
        String p = problem(e.getKey());
        if (p != null) {
          return (path.isEmpty() ? "(a property name)" : path) + ": " + p;
        }
        p = firstProblem(e.getValue(), key);
        if (p != null) {
          return p;
        }
      }
    } else if (json instanceof JsonArray a) {
      for (int i = 0; i < a.size(); i++) {
        String p = firstProblem(a.getValue(i), path + "[" + i + "]");
        if (p != null) {
          return p;
        }
      }
    }
    return null;
  }

  /** The first problem among parameters (query, form fields), as "name: problem", or null. */
  public static String firstProblem(MultiMap params) {
    for (Map.Entry<String, String> e : params) {
      String p = problem(e.getKey());
      if (p == null) {
        p = problem(e.getValue());
      }
      if (p != null) {
        return (problem(e.getKey()) == null ? e.getKey() : "(a parameter name)") + ": " + p;
      }
    }
    return null;
  }

  /** 400 INVALID_REQUEST naming the field. */
  public static ApiError invalid(String field, String problem) {
    return ApiError.of(ErrorCode.INVALID_REQUEST, field + ": " + problem)
        .withErrors(new JsonArray().add(new JsonObject().put("field", field).put("message", problem)));
  }

  public static ApiError invalid(String fieldAndProblem) {
    int colon = fieldAndProblem.indexOf(": ");
    return invalid(fieldAndProblem.substring(0, colon), fieldAndProblem.substring(colon + 2));
  }

  /**
   * Router-wide: query parameters and the decoded path (hence every path parameter) are checked before any route
   * sees them; a query string that cannot be decoded is refused too.
   */
  public static void guardParams(RoutingContext ctx) {
    String found;
    try {
      found = firstProblem(ctx.queryParams());
      if (found == null) {
        String path = io.netty.handler.codec.http.QueryStringDecoder.decodeComponent(ctx.request().path());
        String p = problem(path);
        found = p == null ? null : "path: " + p;
      }
    } catch (RuntimeException e) {
      Responses.error(ctx, ApiError.of(ErrorCode.INVALID_REQUEST, "The query string cannot be decoded: "
          + e.getMessage()));
      return;
    }
    if (found != null) {
      Responses.error(ctx, invalid(found));
      return;
    }
    ctx.next();
  }
}
