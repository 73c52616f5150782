package org.rlhf4j.core.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * Runs the shards of a computation on several threads: shard 0 on the calling thread, the others on
 * a shared pool of daemon threads. Each shard must touch only its own outputs, so results do not
 * depend on thread timing.
 */
public final class Parallel {
  private static final AtomicInteger THREAD_ID = new AtomicInteger();
  private static final ExecutorService POOL =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "rlhf4j-shard-" + THREAD_ID.incrementAndGet());
            t.setDaemon(true);
            return t;
          });

  private Parallel() {}

  /** Runs {@code body(0) ... body(count - 1)} concurrently and waits for all; rethrows the first failure. */
  public static void forEach(int count, IntConsumer body) {
    if (count == 1) {
      body.accept(0);
      return;
    }
    List<Future<?>> futures = new ArrayList<>(count - 1);
    for (int s = 1; s < count; s++) {
      final int shard = s;
      futures.add(POOL.submit(() -> body.accept(shard)));
    }
    Throwable failure = null;
    try {
      body.accept(0);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    for (Future<?> f : futures) {
      try {
        f.get();
      } catch (ExecutionException e) {
        if (failure == null) {
          failure = e.getCause();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        if (failure == null) {
          failure = e;
        }
      }
    }
    if (failure instanceof RuntimeException) {
      throw (RuntimeException) failure;
    }
    if (failure instanceof Error) {
      throw (Error) failure;
    }
    if (failure != null) {
      throw new IllegalStateException("shard failed", failure);
    }
  }

  /** The default number of shards: the available processors. */
  public static int defaultThreads() {
    return Runtime.getRuntime().availableProcessors();
  }
}
