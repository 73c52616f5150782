package org.rlhf4j.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

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
    int cores = Runtime.getRuntime().availableProcessors();
    java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(cores);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    Thread busy = new Thread(() -> Parallel.forEach(cores, i -> { // occupies every spinning worker
      started.countDown();
      try {
        release.await(60, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    busy.start();
    assertTrue(started.await(60, java.util.concurrent.TimeUnit.SECONDS), "the spinning workers took the shards");
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
    release.countDown();
    waiting.join(60_000);
    busy.join(60_000);
    assertEquals(1, met.get(0));
    assertEquals(1, met.get(1));
  }

  // --- Parallel.team and its barrier

  private static long teamThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("rlhf4j-worker-") || t.getName().startsWith("rlhf4j-team-")).count();
  }

  /**
   * A team body of {@code phases} phases: all participants must be running at once (each waits, with
   * a bound, on a latch the others count down: a team whose participants ran one after another
   * fails there instead of hanging), each writes its slot, and after the barrier every participant
   * sees every slot of the phase; a second barrier keeps the next phase's writes after those reads.
   */
  private static Parallel.TeamBody phases(int n, int phases, Thread[] ranOn, AtomicIntegerArray done) {
    java.util.concurrent.CountDownLatch all = new java.util.concurrent.CountDownLatch(n);
    int[] slots = new int[n]; // plain ints: the barrier must make the writes visible
    return (p, barrier) -> {
      assertEquals(n, barrier.parties());
      ranOn[p] = Thread.currentThread();
      all.countDown();
      try {
        if (!all.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
          throw new IllegalStateException("participant " + p + " never ran at the same time as the others");
        }
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      for (int phase = 1; phase <= phases; phase++) {
        slots[p] = phase * 1000 + p;
        barrier.await();
        for (int q = 0; q < n; q++) {
          if (slots[q] != phase * 1000 + q) {
            throw new IllegalStateException("participant " + p + ", phase " + phase + ": slot " + q + " holds " + slots[q]);
          }
        }
        barrier.await();
      }
      done.incrementAndGet(p);
    };
  }

  @Test
  void teamParticipantsRunAtOnceOnDistinctThreadsAndSeeEachOthersWritesAfterEachBarrier() {
    for (int n : new int[] {1, 2, 3, 5}) {
      for (int rep = 0; rep < 30; rep++) {
        Thread[] ranOn = new Thread[n];
        AtomicIntegerArray done = new AtomicIntegerArray(n);
        Parallel.team(n, phases(n, 10, ranOn, done));
        assertSame(Thread.currentThread(), ranOn[0], "the caller is participant 0");
        for (int p = 0; p < n; p++) {
          assertEquals(1, done.get(p), n + " participants: participant " + p);
          for (int q = 0; q < p; q++) {
            assertTrue(ranOn[p] != ranOn[q], "participants " + q + " and " + p + " ran on one thread");
          }
        }
      }
    }
    assertThrows(IllegalArgumentException.class, () -> Parallel.team(0, (p, b) -> {}));
  }

  @Test
  void aFailingParticipantReleasesTheOthersAndItsFailureIsRethrown() {
    for (int failing = 0; failing < 3; failing++) {
      final int bad = failing;
      IllegalArgumentException boom = new IllegalArgumentException("participant " + bad + " failed");
      AtomicIntegerArray released = new AtomicIntegerArray(3);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Parallel.team(
                      3,
                      (p, barrier) -> {
                        barrier.await();
                        if (p == bad) {
                          throw boom;
                        }
                        try {
                          barrier.await(); // the failed participant never arrives
                        } catch (RuntimeException x) {
                          released.incrementAndGet(p);
                          throw x;
                        }
                      }));
      assertSame(boom, e, "participant " + bad);
      for (int p = 0; p < 3; p++) {
        assertEquals(p == bad ? 0 : 1, released.get(p), "participant " + p + " released, " + bad + " failing");
      }
    }
    // A participant that returns while the others wait at a barrier: an error, not a hang.
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.team(2, (p, barrier) -> {
      if (p == 1) {
        barrier.await();
      }
    }));
    assertTrue(e.getMessage().contains("returned without reaching the barrier"), e.getMessage());
    // The pool keeps working.
    AtomicIntegerArray done = new AtomicIntegerArray(2);
    Parallel.team(2, phases(2, 3, new Thread[2], done));
    assertEquals(1, done.get(0));
    assertEquals(1, done.get(1));
  }

  @Test
  void teamsRunInsideSplitsAndFromTwoCallersAtOnce() throws Exception {
    // nested in both shards of a split (whose shards occupy the spinning workers)
    AtomicIntegerArray nested = new AtomicIntegerArray(2 * 3);
    Parallel.forEach(2, i -> {
      AtomicIntegerArray done = new AtomicIntegerArray(3);
      Parallel.team(3, phases(3, 5, new Thread[3], done));
      for (int p = 0; p < 3; p++) {
        nested.addAndGet(i * 3 + p, done.get(p));
      }
    });
    for (int i = 0; i < nested.length(); i++) {
      assertEquals(1, nested.get(i), "shard " + i / 3 + ", participant " + i % 3);
    }
    // two callers at once, each running many teams
    int reps = 200;
    AtomicIntegerArray done = new AtomicIntegerArray(2 * 3);
    java.util.concurrent.atomic.AtomicReference<Throwable> failed = new java.util.concurrent.atomic.AtomicReference<>();
    Thread[] callers = new Thread[2];
    for (int c = 0; c < 2; c++) {
      final int caller = c;
      callers[c] = new Thread(() -> {
        try {
          for (int rep = 0; rep < reps; rep++) {
            AtomicIntegerArray one = new AtomicIntegerArray(3);
            Parallel.team(3, phases(3, 2, new Thread[3], one));
            for (int p = 0; p < 3; p++) {
              done.addAndGet(caller * 3 + p, one.get(p));
            }
          }
        } catch (Throwable t) {
          failed.compareAndSet(null, t);
        }
      });
      callers[c].start();
    }
    for (Thread t : callers) {
      t.join();
    }
    assertEquals(null, failed.get());
    for (int i = 0; i < done.length(); i++) {
      assertEquals(reps, done.get(i), "caller " + i / 3 + ", participant " + i % 3);
    }
  }

  @Test
  void manyShortTeamsDoNotGrowThePool() {
    // As a decode step calls it: a caller outside any split, one team after another. The helper is
    // idle again before its participant counts as done, so each call finds it free (20,000 calls that
    // each started a worker would exhaust the pool and start threads of their own).
    AtomicIntegerArray runs = new AtomicIntegerArray(2);
    Parallel.TeamBody body = (p, barrier) -> {
      runs.incrementAndGet(p);
      barrier.await();
    };
    Parallel.team(2, body);
    long before = teamThreads();
    for (int rep = 0; rep < 20_000; rep++) {
      Parallel.team(2, body);
    }
    assertEquals(20_001, runs.get(0));
    assertEquals(20_001, runs.get(1));
    // (bounded, not zero: the helper may be briefly busy with a stale job queued by an earlier forEach
    // at the moment of a call, which then takes or starts another worker)
    assertTrue(teamThreads() <= before + 2, "threads before " + before + ", after " + teamThreads());
  }
}
