package org.rlhf4j.core.testing;

import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** Runs a body on several threads that start together, for tests of concurrent use. */
public final class Concurrently {
  /** The work of thread {@code i}; may throw (an assertion failure, say). */
  @FunctionalInterface
  public interface Body {
    void run(int i) throws Exception;
  }

  private Concurrently() {}

  /**
   * Starts {@code threads} threads at a barrier, each running {@code body} with its index, waits for
   * all (at most two minutes) and rethrows the first failure, so that a failure on any thread fails
   * the test.
   */
  public static void run(int threads, Body body) throws Exception {
    AtomicReference<Throwable> failed = new AtomicReference<>();
    CyclicBarrier start = new CyclicBarrier(threads);
    Thread[] all = new Thread[threads];
    for (int t = 0; t < threads; t++) {
      final int mine = t;
      all[t] = new Thread(() -> {
        try {
          start.await(60, TimeUnit.SECONDS);
          body.run(mine);
        } catch (Throwable e) {
          failed.compareAndSet(null, e);
        }
      }, "concurrently-" + t);
      all[t].setDaemon(true); // a stuck thread fails the test below without keeping the JVM alive
      all[t].start();
    }
    for (Thread t : all) {
      t.join(120_000);
      if (t.isAlive()) {
        throw new AssertionError(t.getName() + " still running after two minutes");
      }
    }
    Throwable e = failed.get();
    if (e instanceof Exception x) {
      throw x;
    }
    if (e instanceof Error x) {
      throw x;
    }
  }
}
