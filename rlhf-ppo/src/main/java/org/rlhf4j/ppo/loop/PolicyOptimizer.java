package org.rlhf4j.ppo.loop;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.data.Ranking;

/**
 * What improves the policy in each round of {@link RlhfLoop} from the rankings collected so far:
 * reward model + PPO ({@link RewardModelPpo}) or DPO on the rankings ({@link DpoPolicyOptimizer}).
 * The loop samples from {@link #policy()}, asks the labeller, stores the rankings, then calls
 * {@link #improve} with all of them; it checkpoints the optimiser with the round.
 */
public interface PolicyOptimizer extends AutoCloseable {
  /** The policy being improved; the loop samples the responses to be ranked from it. */
  CausalLm policy();

  /**
   * The longest sequence (prompt and response tokens, BOS and EOS included) the optimiser trains on,
   * and how it frames them: stored responses that do not fit are left out of its rankings.
   */
  SequenceLimits limits();

  /**
   * Improves the policy from every ranking so far ({@code rankings} is not empty), measuring on
   * {@code heldOut} (may be empty); reports its steps to {@code listener}.
   */
  PolicyUpdate improve(List<Ranking> rankings, List<Ranking> heldOut, TrainingListener listener);

  /** Writes the optimiser's state (the models it changes, its counters) under the directory {@code dir}. */
  void save(Path dir) throws IOException;

  /** Restores a state written by {@link #save} to {@code dir}. */
  void restore(Path dir);

  /** Frees what the optimiser allocated (not the models it was given). */
  @Override
  void close();

  /**
   * How an optimiser frames a training sequence: at most {@code maxLength} tokens, BOS before the
   * prompt, EOS after the response.
   */
  record SequenceLimits(int maxLength, boolean addBos, boolean appendEos) {}
}
