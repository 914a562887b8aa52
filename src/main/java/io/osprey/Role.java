package io.osprey;

import java.util.Locale;

/** What one process runs: the HTTP API, the detection workers, or both (the default, one machine). */
public enum Role {
  API, WORKER, ALL;

  public boolean runsApi() {
    return this == API || this == ALL;
  }

  public boolean runsWorkers() {
    return this == WORKER || this == ALL;
  }

  public static Role parse(String text) {
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown role '" + text + "' (expected api, worker or all)");
    }
  }
}
