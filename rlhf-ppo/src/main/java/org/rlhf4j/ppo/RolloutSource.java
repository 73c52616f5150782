package org.rlhf4j.ppo;

import java.util.List;

/**
 * Where a trainer's rollouts come from when they are seeded per prompt: {@link #PER_PROMPT} rolls
 * them out in this process, a distributed source (e.g. rlhf-spark's) on other machines. Every
 * source must return what {@link RolloutCollector#collectSeeded} returns for the same arguments (the
 * collector's current models, sampling and KL settings), so that a trainer's statistics do not
 * depend on where its rollouts ran.
 */
@FunctionalInterface
public interface RolloutSource {
  /** In-process, unit by unit: {@link RolloutCollector#collectSeeded}. */
  RolloutSource PER_PROMPT = RolloutCollector::collectSeeded;

  /**
   * Rolls out {@code prompts} ({@code seeds.length} units of {@code groupSize} consecutive prompts,
   * unit {@code u} seeded with {@code seeds[u]}) with the models and settings of {@code collector}.
   */
  Rollout collect(RolloutCollector collector, List<int[]> prompts, int groupSize, long[] seeds);
}
