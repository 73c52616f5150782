package org.rlhf4j.ppo;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The single-user rule of the RL trainers: one thread at a time inside a trainer, no re-entrant
 * call (from a listener or reward model), no use after close. {@link #enter} fails naming the
 * trainer, the call and the threads; {@link #exit} releases.
 */
final class TrainerGuard {
  private final String trainer;
  private final AtomicReference<Thread> user = new AtomicReference<>();
  private volatile boolean closed;

  TrainerGuard(String trainer) {
    this.trainer = trainer;
  }

  /** Marks the calling thread as the user; fails if another thread is inside, on re-entry, or once closed. */
  void enter(String what) {
    Thread me = Thread.currentThread();
    if (!user.compareAndSet(null, me)) {
      Thread other = user.get();
      if (other == me) {
        throw new IllegalStateException(trainer + "." + what
            + "() was called re-entrantly (from a listener or reward model) while this thread is inside the trainer");
      }
      throw new IllegalStateException(trainer + " is not thread-safe: " + what + "() was called on thread \"" + me.getName()
          + "\" while thread \"" + (other == null ? "?" : other.getName())
          + "\" is using the trainer; use one trainer per thread or synchronise the calls");
    }
    if (closed) {
      user.set(null);
      throw new IllegalStateException(trainer + "." + what + "() after close(): the trainer has been closed (its optimiser state was freed)");
    }
  }

  /** Releases the trainer. */
  void exit() {
    user.set(null);
  }

  /**
   * Closes the trainer once: marks it closed and runs {@code release} (freeing its state); a second
   * call does nothing. Fails like {@link #enter} if another thread is inside the trainer.
   */
  void close(Runnable release) {
    if (closed) {
      return;
    }
    enter("close");
    try {
      closed = true;
      release.run();
    } finally {
      exit();
    }
  }

  boolean isClosed() {
    return closed;
  }

  /** The generator of every random choice of step {@code k} (1-based) of a run seeded with {@code seed}. */
  static SplittableRandom stepRandom(long seed, long k) {
    return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ (k * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL));
  }
}
