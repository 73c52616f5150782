package org.rlhf4j.core.testing;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.rlhf4j.core.tensor.Parallel;

/**
 * Keeps every worker of {@link Parallel} that spins while idle (one per processor) busy with another
 * thread's split until closed, so that splits meanwhile find no idle helper.
 */
public final class BusyWorkers implements AutoCloseable {
  private final CountDownLatch release = new CountDownLatch(1);
  private final Thread thread;

  private BusyWorkers(int cores, CountDownLatch started) {
    thread = new Thread(() -> Parallel.forEach(cores, i -> {
      started.countDown();
      try {
        release.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }), "busy-workers");
    thread.setDaemon(true);
  }

  /** Starts the split and returns once each of its shards has started (at most a minute). */
  public static BusyWorkers occupy() throws InterruptedException {
    int cores = Runtime.getRuntime().availableProcessors();
    CountDownLatch started = new CountDownLatch(cores);
    BusyWorkers busy = new BusyWorkers(cores, started);
    busy.thread.start();
    if (!started.await(60, TimeUnit.SECONDS)) {
      busy.close();
      throw new AssertionError("the spinning workers did not take the shards");
    }
    return busy;
  }

  /** Lets the split finish and waits for it (idempotent). */
  @Override
  public void close() throws InterruptedException {
    release.countDown();
    thread.join(60_000);
  }
}
