package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The settings every supervised trainer's builder takes besides its configuration and models
 * ({@code SftTrainer}, {@code RewardTrainer}, {@code DpoTrainer}): listeners, periodic checkpoints
 * and the checkpoint to resume from. Each trainer's builder extends it, so the three have one shape.
 *
 * @param <B> the concrete builder, returned by every setter for chaining
 */
public abstract class SupervisedTrainerBuilder<B extends SupervisedTrainerBuilder<B>> {
  private final List<TrainingListener> listeners = new ArrayList<>();
  private Checkpointing checkpointing = Checkpointing.none();

  /** A builder without listeners or checkpoints. */
  protected SupervisedTrainerBuilder() {}

  /** This builder, as its concrete type. */
  protected abstract B self();

  /** Adds a listener of the metrics (called in the order added; default: none). */
  public B listener(TrainingListener v) {
    listeners.add(checkNotNull(v, "listener"));
    return self();
  }

  /**
   * Every {@code every} steps, the run's complete state — the trained model as the trainer saves it,
   * AdamW's moments and counters, the step and the position in the seeded data order (see {@link
   * TrainerCheckpoint}) — is written to {@code dir}, replacing the previous one atomically.
   */
  public B checkpoints(Path dir, int every) {
    checkpointing = checkpointing.every(dir, every);
    return self();
  }

  /**
   * Continues, exactly, the run whose periodic checkpoint ({@link #checkpoints}) is {@code dir}:
   * {@code train} loads the checkpoint's weights into the model it is given (same architecture),
   * restores AdamW's moments and counters, the step and the position in the data order, and runs
   * the remaining steps; metrics and weights are bit-identical to the uninterrupted run's. The
   * configuration and training data must be the same; a different configuration is a {@link
   * org.rlhf4j.core.io.CheckpointException} naming only the differing keys, a checkpoint of another
   * trainer is refused. The evaluation before training is not repeated.
   */
  public B resumeFrom(Path dir) {
    checkpointing = checkpointing.resumeFrom(dir);
    return self();
  }

  /** The listeners added so far, in order. */
  protected ImmutableList<TrainingListener> listeners() {
    return ImmutableList.copyOf(listeners);
  }

  /** The checkpoint settings so far. */
  protected Checkpointing checkpointing() {
    return checkpointing;
  }

  /** Copies {@code listeners} and {@code checkpointing} into this builder (for a trainer's {@code toBuilder}). */
  protected B from(List<TrainingListener> listeners, Checkpointing checkpointing) {
    this.listeners.addAll(listeners);
    this.checkpointing = checkNotNull(checkpointing, "checkpointing");
    return self();
  }
}
