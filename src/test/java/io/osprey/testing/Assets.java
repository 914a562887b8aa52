package io.osprey.testing;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/**
 * What a test needs from outside the repository (../shared models and images, the browser). Locally a missing one
 * skips the test with a message; with {@code CI=true} it fails it, so a CI run without them cannot pass with the
 * inference or browser paths untested.
 */
public final class Assets {
  private Assets() {
  }

  public static boolean ci() {
    return "true".equalsIgnoreCase(System.getenv("CI"));
  }

  /** Skips (locally) or fails (CI) the running test when {@code present} is false; {@code missing} says what and how. */
  public static void require(boolean present, String missing) {
    if (present) {
      return;
    }
    if (ci()) {
      fail(missing + " (CI=true: a missing asset fails the run instead of skipping)");
    }
    Assumptions.abort(missing + "; skipping");
  }
}
