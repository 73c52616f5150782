package org.rlhf4j.ppo;

/**
 * Sees every PPO step's full result, texts included ({@link PpoStats#completions()}); registered
 * with {@link PpoTrainer.Builder#stepListener}. {@link CompletionsTable} is one. Called on the
 * training thread after the step's {@code TrainingListener}s.
 */
@FunctionalInterface
public interface PpoStepListener {
  /** Step {@code stats.step()} finished. */
  void onPpoStep(PpoStats stats);
}
