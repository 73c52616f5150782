package org.rlhf4j.examples;

/**
 * Sizes of the quick-start: {@link #TINY} finishes in about a minute (what the tests run), {@link
 * #SMALL} (the default) in under ten minutes on two cores.
 */
public enum Preset {
  TINY(32, 2, 2, 64, 80, 80, 120, 8, 8, 4, 24, 48),
  SMALL(128, 4, 4, 96, 500, 300, 250, 40, 32, 8, 32, 200);

  /** Model width. */
  final int dModel;
  /** Attention heads. */
  final int heads;
  /** Transformer blocks. */
  final int layers;
  /** Context length (bytes). */
  final int context;
  /** Pre-training steps on tinyshakespeare. */
  final int pretrainSteps;
  /** SFT steps on review demonstrations. */
  final int sftSteps;
  /** Reward-model steps (16 comparisons each). */
  final int rewardSteps;
  /** PPO steps. */
  final int ppoSteps;
  /** Prompts per PPO step. */
  final int ppoBatch;
  /** Episodes per PPO minibatch. */
  final int ppoMiniBatch;
  /** Response length in bytes. */
  final int responseLength;
  /** Held-out prompts sampled in the final evaluation. */
  final int evalPrompts;

  Preset(int dModel, int heads, int layers, int context, int pretrainSteps, int sftSteps, int rewardSteps, int ppoSteps, int ppoBatch, int ppoMiniBatch, int responseLength, int evalPrompts) {
    this.dModel = dModel;
    this.heads = heads;
    this.layers = layers;
    this.context = context;
    this.pretrainSteps = pretrainSteps;
    this.sftSteps = sftSteps;
    this.rewardSteps = rewardSteps;
    this.ppoSteps = ppoSteps;
    this.ppoBatch = ppoBatch;
    this.ppoMiniBatch = ppoMiniBatch;
    this.responseLength = responseLength;
    this.evalPrompts = evalPrompts;
  }
}
