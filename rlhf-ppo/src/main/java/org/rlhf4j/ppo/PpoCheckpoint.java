package org.rlhf4j.ppo;

import java.nio.file.Path;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * Saves and restores the complete state of a {@link PpoTrainer}, for exact resume: the policy (with
 * its value head), the critic if separate, AdamW's moments and counters, the KL coefficient, the
 * running score moments and the step and episode counters. Layout: {@code policy/} and {@code
 * critic/} model checkpoints, {@code optimizer.safetensors}, {@code trainer_state.json}; the
 * directory is published atomically. A checkpoint is always restorable: a state holding a NaN or
 * infinite number is refused (with {@link CheckpointException}, the previous checkpoint kept).
 * {@link PpoTrainer.Builder#checkpoints} writes the same format every few steps and {@link
 * PpoTrainer.Builder#resumeFrom} continues from it.
 */
public final class PpoCheckpoint {
  private PpoCheckpoint() {}

  /**
   * Writes {@code trainer}'s state to {@code dir} (replacing it atomically); the tokenizer is saved
   * with the policy if not null.
   *
   * @throws CheckpointException if the state holds a NaN or infinite number (nothing is written)
   * @throws IllegalStateException if the trainer is closed or another thread is running a step
   */
  public static void save(Path dir, PpoTrainer trainer, Tokenizer tokenizer) {
    trainer.save(dir, tokenizer);
  }

  /**
   * Restores a state written by {@link #save} into {@code trainer}, which must have been built with
   * the same configuration and model architectures; afterwards it continues exactly as the saved
   * trainer would have.
   */
  public static void restore(Path dir, PpoTrainer trainer) {
    trainer.restore(dir);
  }
}
