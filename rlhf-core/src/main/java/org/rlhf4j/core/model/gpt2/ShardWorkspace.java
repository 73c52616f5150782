package org.rlhf4j.core.model.gpt2;

import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The activations and backward scratch of one shard ({@code b} sequences of length {@code T}) of a
 * forward pass, carved from one {@link Arena} and reused while the shape allows. Comments give
 * shapes with {@code n = b*T}, {@code d = dModel}, {@code F = 4d}, {@code H} heads of width {@code
 * dh}.
 */
final class ShardWorkspace implements AutoCloseable {
  private final GptConfig config;
  private final Arena arena;
  int b;
  int t;
  /** Threads this shard may use inside its matrix products and attention (1 unless threads > batch rows). */
  int ways = 1;
  /** The {@code [T, T]} blocks of {@link #dAtt}: one per head range that runs at once. */
  private int headBlocks;
  /** This shard's view of the model's adapters (LoRA), or null. */
  org.rlhf4j.core.model.LinearAdapters adapters;
  /** Whether the current pass ran with adapters. */
  boolean adapted;
  int[] ids = new int[0];
  int[] positions = new int[0];
  int[] keyMask = new int[0];

  Tensor emb; // [n, d] block 0's input
  BlockActs[] layers; // what the backward pass needs from each block
  Tensor lnfHat; // [n, d]
  Tensor lnfRstd; // [n]
  Tensor hidden; // [n, d] final LayerNorm output
  Tensor logits; // [n, V] (computed on demand)
  Tensor lse; // [b, T-1]
  // Backward scratch.
  Tensor dResid; // [n, d]
  Tensor dHidden; // [n, d]
  Tensor dLn; // [n, d]
  Tensor dY; // [n, d]
  Tensor dQkv; // [n, 3d]
  /**
   * A head's score gradients in the backward pass, {@code dP} then {@code dS}: [headBlocks, T, T], one
   * block per thread working on heads at once ({@link #headBlock}), reused from head to head so that
   * it stays in that core's cache.
   */
  Tensor dAtt;
  Tensor dFc; // [n, F]
  Tensor dLogits; // [n, V]
  /** Per-thread partial sums of the LayerNorm gains' and biases' gradients: [2 * MAX_NORM_PARTS, d]. */
  Tensor normPartials;
  /** The most row blocks a LayerNorm backward is split into (each needs its own partial sums). */
  static final int MAX_NORM_PARTS = 8;

  ShardWorkspace(GptConfig config, DataType type) {
    this.config = config;
    this.arena = new Arena(type);
  }

  /**
   * Makes the workspace fit {@code b} sequences of length {@code t} on {@code ways} threads (no-op if
   * it already does), and sets {@link #ways}.
   */
  void ensure(int b, int t, int ways) {
    this.ways = ways;
    int blocks = headBlocks(b, ways);
    if (b == this.b && t == this.t && blocks == headBlocks && layers != null) {
      return;
    }
    this.b = b;
    this.t = t;
    this.headBlocks = blocks;
    int n = b * t;
    ids = new int[n];
    positions = new int[n];
    keyMask = new int[n];
    arena.layout(this::carve);
  }

  /**
   * How many head ranges of {@code b} sequences' heads may run at once on {@code ways} threads: as
   * many as {@code ShardMath} splits them into (a sequence's heads over the threads when the shard
   * holds one sequence, else all heads on one thread), at most one per head.
   */
  private int headBlocks(int b, int ways) {
    return b == 1 ? Math.max(1, Math.min(ways, config.heads())) : 1;
  }

  /** The block of {@link #dAtt} for head range {@code part} ({@code [1, T, T]}). */
  Tensor headBlock(int part) {
    if (part >= headBlocks) {
      throw new IllegalStateException("head range " + part + ", but " + headBlocks + " score-gradient blocks");
    }
    return dAtt.rows(part, part + 1);
  }

  private void carve(Arena a) {
    long n = (long) b * t;
    long d = config.dModel();
    long f = config.mlpDim();
    long bh = (long) b * config.heads();
    long v = config.vocabSize();
    emb = a.take(n, d);
    layers = new BlockActs[config.layers()];
    for (int l = 0; l < layers.length; l++) {
      BlockActs x = new BlockActs();
      x.ln1Hat = a.take(n, d);
      x.ln1Rstd = a.take(n);
      x.ln1Out = a.take(n, d);
      x.qkv = a.take(n, 3 * d);
      x.att = a.take(bh, t, t);
      x.y = a.take(n, d);
      x.mid = a.take(n, d);
      x.ln2Hat = a.take(n, d);
      x.ln2Rstd = a.take(n);
      x.ln2Out = a.take(n, d);
      x.fcPre = a.take(n, f);
      x.fcAct = a.take(n, f);
      x.out = a.take(n, d);
      layers[l] = x;
    }
    lnfHat = a.take(n, d);
    lnfRstd = a.take(n);
    hidden = a.take(n, d);
    logits = a.take(n, v);
    lse = a.take(Math.max(1, (long) b * (t - 1)));
    dResid = a.take(n, d);
    dHidden = a.take(n, d);
    dLn = a.take(n, d);
    dY = a.take(n, d);
    dQkv = a.take(n, 3 * d);
    dAtt = a.take(headBlocks, t, t);
    dFc = a.take(n, f);
    dLogits = a.take(n, v);
    normPartials = a.take(2L * MAX_NORM_PARTS, d);
  }

  @Override
  public void close() {
    arena.close();
  }
}
