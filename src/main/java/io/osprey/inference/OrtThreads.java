package io.osprey.inference;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads for calls into ONNX Runtime. Its native code needs more stack than a JVM thread's default 1 MB: creating
 * the environment on an ordinary thread was seen to overflow it and kill the JVM without a word (SIGSEGV, no
 * hs_err file). Every ONNX Runtime call therefore runs on a thread with a large stack.
 */
public final class OrtThreads {
  static final long STACK_BYTES = 64L << 20;
  private static final AtomicInteger COUNT = new AtomicInteger();
  private static final ExecutorService LOADER = Executors.newSingleThreadExecutor(factory("osprey-ort-loader"));

  private OrtThreads() {
  }

  static ThreadFactory factory(String prefix) {
    return r -> {
      Thread t = new Thread(null, r, prefix + "-" + COUNT.incrementAndGet(), STACK_BYTES);
      t.setDaemon(true);
      return t;
    };
  }

  /** Runs one-off ONNX Runtime work (environment, session creation, warm-up) on the large-stack loader thread. */
  static <T> T call(Callable<T> work) throws Exception {
    Future<T> f = LOADER.submit(work);
    try {
      return f.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof Exception ex) {
        throw ex;
      }
      throw new IllegalStateException(cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw e;
    }
  }
}
