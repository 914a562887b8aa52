package io.osprey.annotations;

/**
 * Fault injection for the crash-atomicity tests: when the environment variable {@code OSPREY_TEST_CRASH_AT} names a
 * point, the process halts there as abruptly as a SIGKILL (no shutdown hooks, no flushing). Unset in every real
 * deployment, where each call is one volatile-free string comparison against null.
 */
public final class CrashPoints {
  private static final String AT = System.getenv("OSPREY_TEST_CRASH_AT");

  /** Inside the annotation transaction, after every row is written, before COMMIT. */
  public static final String BEFORE_COMMIT = "annotation.before_commit";
  /** After COMMIT, before any file is written. */
  public static final String AFTER_COMMIT = "annotation.after_commit";
  /** After the image is in place, before the label. */
  public static final String AFTER_IMAGE = "annotation.after_image";
  /** After the label, before the thumbnail. */
  public static final String AFTER_LABEL = "annotation.after_label";
  /** After every file, before the row is marked complete. */
  public static final String AFTER_FILES = "annotation.after_files";

  /** The outbox drainer: after the broker confirmed a batch, before its rows are deleted. */
  public static final String OUTBOX_AFTER_CONFIRM = "outbox.after_confirm";
  /**
   * The outbox drainer: after the broker confirmed a batch while the next batch was already sent, before the first
   * batch's rows are deleted (two batches in flight).
   */
  public static final String OUTBOX_AFTER_CONFIRM_NEXT_SENT = "outbox.after_confirm_next_sent";

  private CrashPoints() {
  }

  public static void reach(String point) {
    if (AT != null && AT.equals(point)) {
      System.err.println("OSPREY_TEST_CRASH_AT: halting at " + point);
      Runtime.getRuntime().halt(137);
    }
  }
}
