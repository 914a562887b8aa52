package io.osprey.http;

import io.osprey.errors.ErrorCode;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.json.jackson.JacksonCodec;
import java.io.IOException;

/**
 * Parses JSON request bodies. Jackson refuses strings over 20,000,000 chars by default, which cuts a base64 image at
 * about 15 MB; bodies are parsed here with a factory whose string limit is the route's body limit (bodies are bounded
 * before they are parsed, so this raises nothing else), and every string and key is checked with {@link Text}.
 */
public final class JsonBodies {
  private JsonBodies() {
  }

  /**
   * The body as a JSON object; an {@link ApiException} (400) when it is not JSON, not an object, or holds text
   * PostgreSQL would refuse.
   */
  public static JsonObject object(Buffer body, long maxStringChars) {
    if (body == null || body.length() == 0) {
      throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "The body must be a JSON object"));
    }
    JsonFactory factory = JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder()
            .maxStringLength((int) Math.min(Integer.MAX_VALUE, Math.max(maxStringChars,
                StreamReadConstraints.DEFAULT_MAX_STRING_LEN)))
            .build())
        .build();
    Object parsed;
    try (JsonParser parser = factory.createParser(body.getBytes())) {
      parsed = JacksonCodec.fromParser(parser, Object.class);
    } catch (DecodeException | IOException e) {
      throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "The body is not valid JSON: "
          + e.getMessage()));
    }
    if (!(parsed instanceof JsonObject o)) {
      throw new ApiException(ApiError.of(ErrorCode.INVALID_REQUEST, "The body must be a JSON object"));
    }
    String problem = Text.firstProblem(o, "");
    if (problem != null) {
      throw new ApiException(Text.invalid(problem));
    }
    return o;
  }
}
