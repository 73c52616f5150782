package org.rlhf4j.examples;

/**
 * Sizes of the quick-start: {@link #TINY} runs in well under a minute (what the tests run), {@link
 * #SMALL} (the default) in under ten minutes on two cores. Lengths are in tokens of the
 * quick-start's own byte-level BPE vocabulary.
 */
public enum Preset {
  TINY(32, 2, 2, 40, 768, 90, 40, 30, 32, 1, 30, 32, 2, 30, 4, 8, 4, 20, 16, 8, 2),
  SMALL(128, 4, 4, 48, 8192, 110, 3000, 200, 64, 2, 500, 128, 3, 500, 100, 32, 8, 28, 256, 192, 5);

  /** Policy model width. */
  final int dModel;
  /** Policy attention heads. */
  final int heads;
  /** Policy transformer blocks. */
  final int layers;
  /** Context length (tokens). */
  final int context;
  /** BPE vocabulary size. */
  final int vocab;
  /** Longest review sentence (characters) used for demonstrations, comparisons and prompts. */
  final int maxChars;
  /** Pre-training steps (16 windows each). */
  final int pretrainSteps;
  /** SFT steps on review demonstrations (16 each). */
  final int sftSteps;
  /** Proxy reward model width. */
  final int proxyDModel;
  /** Proxy reward model blocks. */
  final int proxyLayers;
  /** Proxy reward model steps (16 comparisons each, one epoch). */
  final int proxySteps;
  /** Gold reward model width (when trained from scratch; by default it starts from the pre-trained model). */
  final int goldDModel;
  /** Gold reward model blocks (when trained from scratch). */
  final int goldLayers;
  /** Gold reward model steps (16 comparisons each, one epoch). */
  final int goldSteps;
  /** PPO steps. */
  final int ppoSteps;
  /** Prompts per PPO step. */
  final int ppoBatch;
  /** Episodes per PPO minibatch. */
  final int ppoMiniBatch;
  /** Response length (tokens). */
  final int responseLength;
  /** Held-out prompts of the final evaluation (samples files, best-of-n, win rates). */
  final int evalPrompts;
  /** Held-out prompts on which proxy and gold scores are followed during PPO. */
  final int trackPrompts;
  /** PPO steps between two such evaluations. */
  final int trackEvery;

  Preset(int dModel, int heads, int layers, int context, int vocab, int maxChars, int pretrainSteps, int sftSteps, int proxyDModel, int proxyLayers, int proxySteps,
      int goldDModel, int goldLayers, int goldSteps, int ppoSteps, int ppoBatch, int ppoMiniBatch, int responseLength, int evalPrompts, int trackPrompts, int trackEvery) {
    this.dModel = dModel;
    this.heads = heads;
    this.layers = layers;
    this.context = context;
    this.vocab = vocab;
    this.maxChars = maxChars;
    this.pretrainSteps = pretrainSteps;
    this.sftSteps = sftSteps;
    this.proxyDModel = proxyDModel;
    this.proxyLayers = proxyLayers;
    this.proxySteps = proxySteps;
    this.goldDModel = goldDModel;
    this.goldLayers = goldLayers;
    this.goldSteps = goldSteps;
    this.ppoSteps = ppoSteps;
    this.ppoBatch = ppoBatch;
    this.ppoMiniBatch = ppoMiniBatch;
    this.responseLength = responseLength;
    this.evalPrompts = evalPrompts;
    this.trackPrompts = trackPrompts;
    this.trackEvery = trackEvery;
  }
}
