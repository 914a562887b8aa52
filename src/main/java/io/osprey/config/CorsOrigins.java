package io.osprey.config;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The value of http.cors_origins. Parsed here, in config, because the loader refuses a bad value at start (before
 * anything listens) and config imports no other package; the HTTP layer's CORS handler uses the parsed list.
 */
public final class CorsOrigins {
  private CorsOrigins() {
  }

  /**
   * Parses http.cors_origins: comma-separated exact origins ({@code scheme://host[:port]}, no path) or {@code *}.
   *
   * @throws IllegalArgumentException naming the first entry that is not an origin
   */
  public static List<String> parse(String configured) {
    List<String> out = new ArrayList<>();
    if (configured == null) {
      return out;
    }
    for (String raw : configured.split(",")) {
      String o = raw.strip();
      if (o.isEmpty()) {
        continue;
      }
      if (!o.equals("*")) {
        URI u;
        try {
          u = new URI(o);
        } catch (java.net.URISyntaxException e) {
          throw new IllegalArgumentException("'" + o + "' is not an origin (scheme://host[:port])");
        }
        if (u.getScheme() == null || u.getHost() == null || u.getRawPath() != null && !u.getRawPath().isEmpty()
            || u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null) {
          throw new IllegalArgumentException("'" + o + "' is not an origin (scheme://host[:port], no path, no"
              + " trailing slash)");
        }
        o = o.toLowerCase(Locale.ROOT);
      }
      out.add(o);
    }
    return out;
  }
}
