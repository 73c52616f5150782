package org.rlhf4j.core.train;

/**
 * Side work hung on a training loop: logging, progress bars, metric files, checkpoints. Every method
 * has an empty default. Called on the training thread, in registration order. A listener can end
 * training early through {@link #stopRequested()}.
 */
public interface TrainingListener {

  /** Training of {@code phase} starts; {@code totalSteps} is the planned number of steps. */
  default void onStart(String phase, long totalSteps) {}

  /** A training step finished. */
  default void onStep(Metrics metrics) {}

  /** An evaluation finished (metrics named {@code eval/...}). */
  default void onEvaluation(Metrics metrics) {}

  /** Training of {@code phase} finished; {@code summary} holds the final figures. */
  default void onEnd(Metrics summary) {}

  /**
   * Asked by the trainers after every step (and its evaluation, if any): {@code true} ends training
   * there, as if it had been planned to end at that step (final evaluation, {@link #onEnd} and the
   * result as usual). {@link EarlyStopping} is one.
   */
  default boolean stopRequested() {
    return false;
  }
}
