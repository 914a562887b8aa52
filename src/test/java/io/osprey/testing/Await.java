package io.osprey.testing;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.function.Predicate;

/** Waiting for a condition instead of sleeping a fixed time: the one place tests poll. */
public final class Await {
  private static final long POLL_MS = 50;

  private Await() {
  }

  /** A condition that may throw (HTTP calls, SQL). */
  public interface Check {
    boolean ok() throws Exception;
  }

  /** Returns as soon as {@code check} is true; fails naming {@code what} when it is not within {@code timeout}. */
  public static void until(String what, Duration timeout, Check check) throws Exception {
    long end = System.nanoTime() + timeout.toNanos();
    while (!check.ok()) {
      if (System.nanoTime() - end > 0) {
        throw new AssertionError("not within " + timeout.toMillis() + " ms: " + what);
      }
      Thread.sleep(POLL_MS);
    }
  }

  /** Reads {@code value} until it passes {@code ok} and returns it; fails with the last value read. */
  public static <T> T until(String what, Duration timeout, Callable<T> value, Predicate<T> ok) throws Exception {
    long end = System.nanoTime() + timeout.toNanos();
    T last = value.call();
    while (!ok.test(last)) {
      if (System.nanoTime() - end > 0) {
        throw new AssertionError("not within " + timeout.toMillis() + " ms: " + what + "; last " + last);
      }
      Thread.sleep(POLL_MS);
      last = value.call();
    }
    return last;
  }

  /**
   * For something that must not happen: {@code check} must stay true for the whole {@code window}. Fails as soon as
   * it turns false; the window is how long the test gives the unwanted thing to show up.
   */
  public static void holds(String what, Duration window, Check check) throws Exception {
    long end = System.nanoTime() + window.toNanos();
    while (true) {
      if (!check.ok()) {
        throw new AssertionError("no longer true: " + what);
      }
      if (System.nanoTime() - end > 0) {
        return;
      }
      Thread.sleep(POLL_MS);
    }
  }
}
