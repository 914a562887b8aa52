package io.osprey.outbox;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a drain run's time goes, stage by stage: logged at DEBUG when the run ends (the outbox benchmark turns it
 * on). Each figure is the wall time from the event loop's view, from starting a stage to its result being back on
 * the event loop (queueing and thread hops included), summed over the run's batches. Some stages overlap (the next
 * batch is read and built while one is sent and the one before it settles), so they add up to more than the run's
 * wall time; the ones that add up to about the wall time are the chain the drain waits for. Used on the drainer's
 * event loop only.
 */
final class DrainTimes {
  private static final Logger LOG = LoggerFactory.getLogger(DrainTimes.class);

  private long runStart;
  private int reads;
  private long readRows;
  private long readNanos;
  private int builds;
  private long built;
  private long buildNanos;
  private int assigns;
  private long assignNanos;
  private int sends;
  private long sendNanos;
  private int waits;
  private long confirmWaitNanos;
  private int deletes;
  private long deleted;
  private long deleteNanos;

  void begin() {
    runStart = System.nanoTime();
    reads = builds = assigns = sends = waits = deletes = 0;
    readRows = built = deleted = 0;
    readNanos = buildNanos = assignNanos = sendNanos = confirmWaitNanos = deleteNanos = 0;
  }

  void read(long start, int rows) {
    reads++;
    readRows += rows;
    readNanos += System.nanoTime() - start;
  }

  /** Bodies built (image files read, holds written). */
  void build(long start, int messages) {
    builds++;
    built += messages;
    buildNanos += System.nanoTime() - start;
  }

  /** Publishing ids given. */
  void assign(long start) {
    assigns++;
    assignNanos += System.nanoTime() - start;
  }

  /** Messages handed to the client. */
  void send(long start) {
    sends++;
    sendNanos += System.nanoTime() - start;
  }

  /** A settle waiting for its batch's confirms (nothing when they came while the next batch was handled). */
  void confirms(long start) {
    waits++;
    confirmWaitNanos += System.nanoTime() - start;
  }

  void delete(long start, int rows) {
    deletes++;
    deleted += rows;
    deleteNanos += System.nanoTime() - start;
  }

  void end() {
    if (deleted == 0 || !LOG.isDebugEnabled()) {
      return;
    }
    double wallMs = (System.nanoTime() - runStart) / 1e6;
    LOG.debug(String.format("outbox drain run: %d rows published in %.0f ms (%.0f/s); per batch, ms: read %.1f"
            + " (%d reads, %d rows), build %.1f (%d bodies), assign ids %.1f, send %.1f, wait for confirms %.1f,"
            + " delete %.1f (%d rows)", deleted, wallMs, deleted / wallMs * 1000, per(readNanos, reads), reads,
        readRows, per(buildNanos, builds), built, per(assignNanos, assigns), per(sendNanos, sends),
        per(confirmWaitNanos, waits), per(deleteNanos, deletes), deleted));
  }

  private static double per(long nanos, int count) {
    return count == 0 ? 0 : nanos / 1e6 / count;
  }
}
