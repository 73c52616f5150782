package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.testing.BusyWorkers;

/**
 * {@link Parallel#forEach} runs every shard exactly once, for any count (more shards than workers
 * included), when calls nest (shards splitting their own work, as a shard of a batch splits its
 * products; nested splits get threads of their own), from several callers at once, from an
 * interrupted caller (which keeps its interrupt), and when shards fail (the first failure is
 * rethrown after all shards have finished, and the pool keeps working).
 */
class ParallelTest {

  @Test
  void everyShardRunsExactlyOnce() {
    for (int count : new int[] {0, 1, 2, 3, 7, 33}) {
      for (int rep = 0; rep < 200; rep++) {
        AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(count, 1));
        Parallel.forEach(count, i -> runs.incrementAndGet(i));
        for (int i = 0; i < count; i++) {
          assertEquals(1, runs.get(i), "count " + count + " shard " + i);
        }
      }
    }
  }

  @Test
  void nestedCallsFromSeveralCallersComplete() throws Exception {
    AtomicIntegerArray runs = new AtomicIntegerArray(4 * 3 * 5);
    Thread[] callers = new Thread[2];
    for (int c = 0; c < callers.length; c++) {
      final int caller = c;
      callers[c] =
          new Thread(
              () -> {
                for (int rep = 0; rep < 100; rep++) {
                  Parallel.forEach(
                      2,
                      i -> Parallel.forEach(3, j -> Parallel.forEach(5, k -> runs.incrementAndGet(((caller * 2 + i) * 3 + j) * 5 + k))));
                }
              });
      callers[c].start();
    }
    for (Thread t : callers) {
      t.join();
    }
    for (int i = 0; i < runs.length(); i++) {
      assertEquals(100, runs.get(i), "shard " + i);
    }
  }

  @Test
  void nestedSplitsRunConcurrentlyWhenTheWorkersAreBusy() {
    // 2 x 50 shards that can only finish together: the two outer shards each split in 50, and
    // every inner shard waits at one barrier, so all 100 must run at once (the pool starts more
    // workers when its workers are busy with other calls; more than the other tests here need, so
    // the pool cannot already be large enough). A broken pool fails at the timeout.
    int inner = 50;
    java.util.concurrent.CyclicBarrier barrier = new java.util.concurrent.CyclicBarrier(2 * inner);
    AtomicIntegerArray runs = new AtomicIntegerArray(2 * inner);
    Parallel.forEach(
        2,
        i ->
            Parallel.forEach(
                inner,
                j -> {
                  try {
                    barrier.await(60, java.util.concurrent.TimeUnit.SECONDS);
                  } catch (Exception e) {
                    throw new IllegalStateException("shards did not run concurrently", e);
                  }
                  runs.incrementAndGet(i * inner + j);
                }));
    for (int i = 0; i < 2 * inner; i++) {
      assertEquals(1, runs.get(i), "shard " + i);
    }
  }

  @Test
  void anInterruptedCallerWaitsForAllShardsAndKeepsItsInterrupt() {
    AtomicIntegerArray runs = new AtomicIntegerArray(4);
    Thread.currentThread().interrupt();
    try {
      Parallel.forEach(
          4,
          i -> {
            long x = 0;
            for (int k = 0; k < 2_000_000; k++) { // some work, so that workers are still busy
              x += k ^ i;
            }
            runs.addAndGet(i, x == 42 ? 2 : 1);
          });
    } finally {
      assertTrue(Thread.interrupted(), "the interrupt is kept");
    }
    for (int i = 0; i < 4; i++) {
      assertEquals(1, runs.get(i), "shard " + i);
    }
  }

  @Test
  void theFirstFailureIsRethrownAfterAllShardsFinished() {
    for (int rep = 0; rep < 50; rep++) {
      AtomicIntegerArray runs = new AtomicIntegerArray(6);
      IllegalStateException boom = new IllegalStateException("shard 3 failed");
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () ->
                  Parallel.forEach(
                      6,
                      i -> {
                        runs.incrementAndGet(i);
                        if (i == 3) {
                          throw boom;
                        }
                      }));
      assertSame(boom, e);
      for (int i = 0; i < 6; i++) {
        assertEquals(1, runs.get(i), "shard " + i);
      }
    }
    AtomicIntegerArray after = new AtomicIntegerArray(2);
    Parallel.forEach(2, i -> after.incrementAndGet(i));
    assertEquals(1, after.get(0));
    assertEquals(1, after.get(1));
  }

  private static long workerThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("rlhf4j-worker-")).count();
  }

  @Test
  void splitsOutsideAnySplitDoNotGrowThePool() {
    // A caller that splits again as soon as a split returns must find the spinning worker idle (it is
    // made idle before its shards count as done) or queue on it, never wake or start other workers
    // (the pool used to grow by one worker per such miss, each woken split costing microseconds).
    AtomicIntegerArray runs = new AtomicIntegerArray(2);
    Parallel.forEach(2, runs::incrementAndGet); // the pool's spinning workers exist from here on
    long before = workerThreads();
    for (int rep = 0; rep < 20_000; rep++) {
      Parallel.forEach(2, runs::incrementAndGet);
    }
    assertEquals(20_001, runs.get(0));
    assertEquals(20_001, runs.get(1));
    assertTrue(workerThreads() <= before, "workers before " + before + ", after " + workerThreads());
  }

  @Test
  void aSplitWhileTheSpinningWorkersAreBusyRunsEveryShardAndIsQueuedForThem() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs 2 processors");
    try (BusyWorkers busy = BusyWorkers.occupy()) { // every spinning worker is busy
      // The caller runs every shard itself; the job is queued on the busy workers.
      AtomicIntegerArray runs = new AtomicIntegerArray(5);
      Parallel.forEach(5, runs::incrementAndGet);
      for (int i = 0; i < 5; i++) {
        assertEquals(1, runs.get(i), "shard " + i);
      }
      // Shards that wait for each other: the second one runs on a worker once it is free again.
      java.util.concurrent.CyclicBarrier both = new java.util.concurrent.CyclicBarrier(2);
      AtomicIntegerArray met = new AtomicIntegerArray(2);
      Thread waiting = new Thread(() -> Parallel.forEach(2, i -> {
        try {
          both.await(60, java.util.concurrent.TimeUnit.SECONDS);
          met.incrementAndGet(i);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }));
      waiting.start();
      busy.close();
      waiting.join(60_000);
      assertEquals(1, met.get(0));
      assertEquals(1, met.get(1));
    }
  }

  // --- Parallel.offerHelpers

  private static long poolThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("rlhf4j-")).count();
  }

  private static void await(java.util.concurrent.CountDownLatch latch, String what) {
    try {
      if (!latch.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new IllegalStateException("timed out: " + what);
      }
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void offeredHelpersRunOnOtherThreadsAndAreNotWaitedFor() {
    Parallel.forEach(2, i -> {}); // the spinning workers exist and are idle
    for (int rep = 0; rep < 50; rep++) {
      java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
      java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
      Thread[] ranOn = new Thread[1];
      int[] index = new int[1];
      java.util.function.IntConsumer body = i -> {
        await(go, "the caller returned from offerHelpers"); // a caller that waited for the helper would hang here
        index[0] = i;
        ranOn[0] = Thread.currentThread();
        done.countDown();
      };
      int n = 0;
      for (int tries = 0; n == 0 && tries < 1_000_000; tries++) { // the worker may be briefly busy (a job queued by another test)
        n = Parallel.offerHelpers(1, body);
      }
      go.countDown();
      await(done, "the helper ran");
      assertEquals(1, n, "an idle spinning worker took it");
      assertEquals(1, index[0]);
      assertTrue(ranOn[0] != Thread.currentThread() && ranOn[0].getName().startsWith("rlhf4j-worker-"), ranOn[0].getName());
    }
    // a helper's failure is dropped, and the worker keeps working
    java.util.concurrent.CountDownLatch failed = new java.util.concurrent.CountDownLatch(1);
    java.util.function.IntConsumer failing = i -> {
      failed.countDown();
      throw new IllegalStateException("helper failed");
    };
    int n = 0;
    for (int tries = 0; n == 0 && tries < 1_000_000; tries++) {
      n = Parallel.offerHelpers(1, failing);
    }
    assertEquals(1, n);
    await(failed, "the failing helper ran");
    AtomicIntegerArray runs = new AtomicIntegerArray(2);
    Parallel.forEach(2, runs::incrementAndGet);
    assertEquals(1, runs.get(0));
    assertEquals(1, runs.get(1));
  }

  @Test
  void helpersAreOnlyOfferedToIdleSpinningWorkersOutsideSplitsAndStartedInsideThem() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs 2 processors");
    try (BusyWorkers busy = BusyWorkers.occupy()) { // every spinning worker is busy
      long before = poolThreads();
      for (int rep = 0; rep < 20_000; rep++) { // outside any split: nobody to ask, nothing started
        assertEquals(0, Parallel.offerHelpers(1, i -> {}));
      }
      assertEquals(before, poolThreads(), "no thread started");
      // inside a split: idle workers are asked and, where none is idle, started; all run at once
      int n = 3;
      java.util.concurrent.CountDownLatch all = new java.util.concurrent.CountDownLatch(n + 1);
      int[] offered = new int[1];
      Parallel.forEach(1, unused -> {}); // (a one-shard split runs inline: not nested)
      Thread nested = new Thread(() -> Parallel.forEach(2, shard -> {
        if (shard == 0) {
          offered[0] = Parallel.offerHelpers(n, i -> {
            all.countDown();
            await(all, "helper " + i + " met the others");
          });
          all.countDown();
          await(all, "the helpers ran at once");
        }
      }));
      nested.start();
      nested.join(120_000);
      assertEquals(0, all.getCount(), "the caller and its helpers met");
      assertEquals(n, offered[0]);
    }
  }
}
