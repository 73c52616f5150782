package org.rlhf4j.core.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Runs the shards of a computation on several threads: the calling thread and a persistent pool of
 * daemon workers take shard indices from a shared counter until none are left, so each shard runs
 * exactly once, on whichever thread claims it. Each shard must touch only its own outputs, so
 * results do not depend on thread timing or on which thread ran which shard.
 *
 * <p>The hand-off is built for splits of a few microseconds (a matrix product of a decode step): an
 * idle worker waits for {@link #SPIN_NANOS} before it parks (spinning at first, then yielding its
 * core to other runnable threads; workers beyond the number of processors park at once), so the next
 * split of the same step reaches it in well under a microsecond instead of the tens of microseconds a
 * thread wake-up costs; the caller never waits for a worker that has not started (it claims the
 * remaining shards itself), so a busy machine costs at most the time of the unsplit work. A worker is
 * idle again before the caller can see its shards done, so a caller that splits again at once finds
 * it free.
 *
 * <p>A call from outside any split uses at most as many threads as there are processors: the caller
 * and the workers that spin while idle. One of those still busy (late for the previous split, whose
 * shards the caller then ran itself) gets the job queued rather than another worker woken, which would
 * cost more than a short split gains and put more threads than cores on the machine. Calls may nest
 * (a shard may split its own work); a nested call that finds no idle worker starts more, so that the
 * shards of nested splits all get threads of their own.
 *
 * <p>{@link #offerHelpers} hands work to idle workers without waiting for them, for callers that
 * share their work out themselves (a batch-1 decode step, whose slices the caller and its helpers
 * claim), so that a helper kept off a core by a busy machine delays nothing.
 */
public final class Parallel {
  /** How long an idle worker waits for the next split (busy, then yielding its core), before it parks. */
  static final long SPIN_NANOS = 200_000;
  /**
   * How long a waiting thread spins without yielding its core: on a busy machine (more runnable
   * threads than cores) spinning would keep the thread it waits for off the core.
   */
  private static final long BUSY_SPIN_NANOS = 10_000;
  /** How long a caller waits for shards running on workers (busy, then yielding), before it parks. */
  private static final long WAIT_SPIN_NANOS = 100_000;
  /** The most workers the pool starts (more shards than that run on the threads at hand). */
  private static final int MAX_WORKERS = 256;
  private static final Object GROW_LOCK = new Object();
  /** The processors: a call from outside any split uses at most this many threads (the caller and the spinning workers). */
  private static final int CORES = Runtime.getRuntime().availableProcessors();
  /** How many splits the current thread is running shards of (workers: always at least 1). */
  private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);
  private static volatile Worker[] workers = new Worker[0];

  private Parallel() {}

  /** One call of {@link #forEach}: the shards not yet claimed, those finished, the first failure. */
  private static final class Job {
    final int count;
    final IntConsumer body;
    final AtomicInteger next = new AtomicInteger(1); // shard 0 belongs to the caller
    final AtomicInteger done = new AtomicInteger();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final Thread caller = Thread.currentThread();
    volatile boolean callerParked;

    Job(int count, IntConsumer body) {
      this.count = count;
      this.body = body;
    }

    /**
     * Claims and runs shards until none are left (the caller first runs shard 0, so that with
     * responsive workers each thread gets the same shard of every split, and its caches the same
     * part of the weights); unparks a waiting caller after the last one. A worker ({@code self}, null
     * for the caller) is made idle before its shards count as done, so that a caller which sees its
     * job finished and splits again at once finds the worker free (otherwise it would wake or start
     * another worker for each such split, which costs microseconds).
     */
    void runShards(Worker self) {
      int finished = 0;
      int i = self == null ? 0 : next.getAndIncrement();
      for (; i < count; i = next.getAndIncrement()) {
        try {
          body.accept(i);
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
        finished++;
      }
      if (self != null) {
        self.state.set(Worker.IDLE);
      }
      if (finished > 0 && done.addAndGet(finished) == count && self != null && callerParked) {
        LockSupport.unpark(caller);
      }
    }
  }

  /** A pool thread: spins for a while after each job, then parks until handed the next. */
  private static final class Worker implements Runnable {
    static final int IDLE = 0;
    static final int TAKEN = 1;
    final AtomicInteger state = new AtomicInteger(IDLE);
    /** A job handed to this worker while it was busy, to take when it is idle again (see {@link #queue}). */
    final AtomicReference<Job> queued = new AtomicReference<>();
    final Thread thread;
    final long spinNanos;
    volatile Job job;
    volatile boolean parked;

    Worker(int id) {
      // Workers beyond the processors would only spin on a core another thread needs: they park at once.
      spinNanos = id < Runtime.getRuntime().availableProcessors() ? SPIN_NANOS : 0;
      thread = new Thread(this, "rlhf4j-worker-" + id);
      thread.setDaemon(true);
    }

    /** Hands {@code j} to this worker if it is idle. */
    boolean offer(Job j) {
      if (!state.compareAndSet(IDLE, TAKEN)) {
        return false;
      }
      job = j;
      if (parked) {
        LockSupport.unpark(thread);
      }
      return true;
    }

    /**
     * Queues {@code j} for this worker, which is busy (typically still finishing, or not yet scheduled
     * for, a split whose shards the caller has run itself): it takes {@code j} as soon as it is idle,
     * and runs whichever shards of it are still unclaimed then. Replaces a queued job whose shards
     * have all been claimed (by its caller); fails if the queued job still has unclaimed shards.
     */
    boolean queue(Job j) {
      while (true) {
        Job cur = queued.get();
        if (cur != null && cur.next.get() < cur.count) {
          return false;
        }
        // Fails only if the queued job changed meanwhile: the worker took it (then the slot is free)
        // or another caller queued one (then the next round sees it): read again.
        if (queued.compareAndSet(cur, j)) {
          break;
        }
      }
      if (parked) { // it went idle meanwhile, and may be about to park
        LockSupport.unpark(thread);
      }
      return true;
    }

    @Override
    public void run() {
      DEPTH.get()[0] = 1; // every call from a worker is nested in a split
      while (true) {
        awaitJob().runShards(this);
      }
    }

    /** Waits for a job offered or queued, takes it (this worker is then TAKEN) and returns it. */
    private Job awaitJob() {
      long start = System.nanoTime();
      int spins = 0;
      while (true) {
        Job j = job;
        if (j != null) {
          job = null; // taken; the next offer (possible once runShards makes this worker idle) sets it again
          return j;
        }
        Job q = queued.get();
        if (q != null && state.compareAndSet(IDLE, TAKEN)) {
          queued.compareAndSet(q, null); // unless a caller replaced it meanwhile (then taken next time)
          return q;
        }
        if ((++spins & 63) != 0) {
          Thread.onSpinWait();
          continue;
        }
        long waited = System.nanoTime() - start;
        if (waited < spinNanos) {
          if (waited >= BUSY_SPIN_NANOS) {
            Thread.yield();
          }
          continue;
        }
        parked = true;
        if (job == null && queued.get() == null) {
          LockSupport.park(this);
        }
        parked = false;
        start = System.nanoTime();
      }
    }
  }

  /** Runs {@code body(0) ... body(count - 1)} concurrently and waits for all; rethrows the first failure. */
  public static void forEach(int count, IntConsumer body) {
    if (count <= 1) {
      if (count == 1) {
        body.accept(0);
      }
      return;
    }
    Job job = new Job(count, body);
    int[] depth = DEPTH.get();
    if (depth[0] == 0) {
      // Outside any split: only the first CORES - 1 workers (those that spin while idle) help. If one
      // of them is still busy (it was late for the previous split, whose shards the caller then ran),
      // the caller runs its shards itself rather than wake a parked worker, which would cost more than
      // a short split gains and put more threads than cores on the machine.
      int want = Math.min(count, CORES) - 1;
      if (want > 0) {
        Worker[] spinning = pool(CORES - 1);
        boolean[] taken = new boolean[CORES - 1];
        int helpers = 0;
        for (int w = 0; w < CORES - 1 && helpers < want; w++) {
          if (spinning[w].offer(job)) {
            taken[w] = true;
            helpers++;
          }
        }
        // The others (busy, or idle again since the offer) get the job queued, so that every shard
        // still gets a thread of its own should the caller's shard wait for another; only if that
        // fails too (another caller's job waits there), more workers.
        for (int w = 0; w < CORES - 1 && helpers < want; w++) {
          if (!taken[w] && spinning[w].queue(job)) {
            helpers++;
          }
        }
        if (helpers < want) {
          startWorkersFor(job, want - helpers);
        }
      }
    } else {
      int helpers = offer(job, pool(count - 1), count - 1, Integer.MAX_VALUE);
      if (helpers < count - 1) { // workers busy with other calls (nested splits): start more
        startWorkersFor(job, count - 1 - helpers);
      }
    }
    depth[0]++;
    try {
      job.runShards(null);
    } finally {
      depth[0]--;
    }
    if (job.done.get() != count) {
      awaitDone(job);
    }
    Throwable failure = job.failure.get();
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

  /**
   * Hands {@code body} to up to {@code n} idle workers, which run {@code body.accept(1)}, {@code
   * body.accept(2)}, ... (one index each, as a rule), and returns at once, without waiting for them:
   * for work that the caller finishes by itself and helpers only speed up, claiming their share by the
   * caller's own protocol (a decode step's slices). A helper may start late, even after the caller's
   * work is done (it must then do nothing), and is not waited for: a busy machine that keeps it off a
   * core costs the caller nothing. Outside any split only the workers that spin while idle are asked
   * (none is woken or started, as in {@link #forEach}); inside one, any idle worker, and more are
   * started when none is idle. A helper's exception is dropped: {@code body} must report its own
   * failures to the caller.
   *
   * @return how many workers were handed {@code body}
   */
  public static int offerHelpers(int n, IntConsumer body) {
    if (n <= 0) {
      return 0;
    }
    Job job = new Job(n + 1, body); // index 0 is the caller's, which it does not run here
    if (DEPTH.get()[0] == 0) {
      return offer(job, pool(CORES - 1), n, CORES - 1);
    }
    int helpers = offer(job, workers, n, Integer.MAX_VALUE);
    if (helpers < n) {
      helpers += startWorkersFor(job, n - helpers);
    }
    return helpers;
  }

  /**
   * Offers {@code job} to idle workers among the first {@code firstWorkers} of {@code pool} until it has
   * {@code max} helpers; returns the number.
   */
  private static int offer(Job job, Worker[] pool, int max, int firstWorkers) {
    int helpers = 0;
    for (int w = 0; w < pool.length && w < firstWorkers && helpers < max; w++) {
      if (pool[w].offer(job)) {
        helpers++;
      }
    }
    return helpers;
  }

  /** Waits for the shards that workers claimed: spins briefly, then parks until the last one is done. */
  private static void awaitDone(Job job) {
    boolean interrupted = false;
    long start = System.nanoTime();
    int spins = 0;
    while (job.done.get() != job.count) {
      if ((++spins & 63) != 0) {
        Thread.onSpinWait();
        continue;
      }
      long waited = System.nanoTime() - start;
      if (waited < WAIT_SPIN_NANOS) {
        if (waited >= BUSY_SPIN_NANOS) {
          Thread.yield();
        }
        continue;
      }
      job.callerParked = true;
      if (job.done.get() != job.count) {
        LockSupport.parkNanos(job, 1_000_000);
        // An interrupt would make every park return at once: note it, and restore it when done.
        interrupted |= Thread.interrupted();
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Starts up to {@code n} more workers (within {@link #MAX_WORKERS}), each handed {@code job} before
   * any other caller can see it, so that concurrent callers cannot take them from each other; returns
   * how many it started.
   */
  private static int startWorkersFor(Job job, int n) {
    synchronized (GROW_LOCK) {
      Worker[] w = workers;
      int k = Math.min(n, MAX_WORKERS - w.length);
      if (k <= 0) {
        return 0;
      }
      Worker[] grown = java.util.Arrays.copyOf(w, w.length + k);
      for (int i = w.length; i < grown.length; i++) {
        grown[i] = new Worker(i + 1);
        grown[i].offer(job);
        grown[i].thread.start();
      }
      workers = grown;
      return k;
    }
  }

  /** The workers, at least {@code n} of them (started on first need). */
  private static Worker[] pool(int n) {
    n = Math.min(n, MAX_WORKERS);
    Worker[] w = workers;
    if (w.length >= n) {
      return w;
    }
    synchronized (GROW_LOCK) {
      w = workers;
      if (w.length < n) {
        Worker[] grown = java.util.Arrays.copyOf(w, n);
        for (int i = w.length; i < n; i++) {
          grown[i] = new Worker(i + 1);
          grown[i].thread.start();
        }
        workers = grown;
        w = grown;
      }
      return w;
    }
  }

  /** The default number of shards: the available processors. */
  public static int defaultThreads() {
    return Runtime.getRuntime().availableProcessors();
  }
}
