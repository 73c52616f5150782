package org.rlhf4j.core.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The reusable barrier of one {@link Parallel#team} call: {@link #await} returns once every
 * participant has called it the same number of times. Built for phases of a few microseconds (one
 * decode step has two per layer): a sense-reversing barrier (one atomic counter and a volatile
 * generation), whose waiters spin for {@link #BUSY_SPIN_NANOS}, then yield their core to other
 * runnable threads until {@link #YIELD_SPIN_NANOS}, then park (woken by the last arrival, and every
 * millisecond regardless), so that an oversubscribed machine never livelocks.
 *
 * <p>A participant that fails breaks the barrier: every participant waiting in, or later calling,
 * {@link #await} throws instead of waiting for it, and {@link Parallel#team} rethrows the first
 * failure. A participant that returns while the others wait for it (a body with unequal numbers of
 * {@code await} calls) breaks it too, with an {@link IllegalStateException}.
 */
public final class TeamBarrier {
  /** How long a waiter spins without yielding its core. */
  static final long BUSY_SPIN_NANOS = 20_000;
  /** How long a waiter spins (yielding its core after {@link #BUSY_SPIN_NANOS}) before it parks. */
  static final long YIELD_SPIN_NANOS = 200_000;
  /** The longest a parked waiter sleeps before it looks again (a lost wake-up costs at most this). */
  private static final long PARK_NANOS = 1_000_000;

  private final int parties;
  private final AtomicInteger arrived = new AtomicInteger();
  private final AtomicInteger sleepers = new AtomicInteger();
  private final AtomicInteger finished = new AtomicInteger();
  private final AtomicReferenceArray<Thread> threads;
  private volatile int generation;
  private volatile boolean broken;

  TeamBarrier(int parties) {
    this.parties = parties;
    this.threads = new AtomicReferenceArray<>(parties);
  }

  /** Thrown by {@link #await} in the other participants when one has failed (not a failure of its own). */
  static final class BrokenException extends RuntimeException {
    BrokenException() {
      super("another participant of the team failed", null, false, false);
    }
  }

  /** The number of participants. */
  public int parties() {
    return parties;
  }

  /** Records the thread running {@code participant}, so that it can be woken when parked. */
  void register(int participant) {
    threads.set(participant, Thread.currentThread());
  }

  /**
   * Waits until all participants have called this method (as often as this one); the writes of every
   * participant before its call are visible to every participant after it.
   *
   * @throws RuntimeException if another participant failed or returned without reaching the barrier
   */
  public void await() {
    int gen = generation; // cannot advance before this participant arrives
    checkUsable(gen);
    if (arrived.incrementAndGet() == parties) {
      arrived.set(0); // before the new generation is published: the next phase counts from 0
      generation = gen + 1;
      if (sleepers.get() > 0) {
        wakeAll();
      }
      return;
    }
    long start = System.nanoTime();
    int spins = 0;
    boolean interrupted = false;
    while (generation == gen) {
      if ((++spins & 63) != 0) {
        Thread.onSpinWait();
        continue;
      }
      checkUsable(gen);
      long waited = System.nanoTime() - start;
      if (waited < YIELD_SPIN_NANOS) {
        if (waited >= BUSY_SPIN_NANOS) {
          Thread.yield();
        }
        continue;
      }
      sleepers.incrementAndGet();
      if (generation == gen && !broken) {
        LockSupport.parkNanos(this, PARK_NANOS);
        interrupted |= Thread.interrupted(); // an interrupt would make every park return at once
      }
      sleepers.decrementAndGet();
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Throws if generation {@code gen} can no longer complete: the barrier is broken, or a participant
   * has returned while it waits for it. (A waiter may see either only after its generation has
   * completed: a participant fails or returns only after passing the barriers it reached. Then it
   * must return normally; hence the generation is read again after the flags.)
   */
  private void checkUsable(int gen) {
    if (broken && generation == gen) {
      throw new BrokenException();
    }
    if (finished.get() > 0 && generation == gen) {
      breakBarrier();
      throw new IllegalStateException("a participant of the team returned without reaching the barrier the others wait at");
    }
  }

  /** Marks the barrier broken and wakes every participant. */
  void breakBarrier() {
    broken = true;
    wakeAll();
  }

  /** Notes that a participant's body has returned normally. */
  void finish() {
    finished.incrementAndGet();
    if (sleepers.get() > 0) {
      wakeAll();
    }
  }

  private void wakeAll() {
    for (int i = 0; i < parties; i++) {
      Thread t = threads.get(i);
      if (t != null && t != Thread.currentThread()) {
        LockSupport.unpark(t);
      }
    }
  }
}
