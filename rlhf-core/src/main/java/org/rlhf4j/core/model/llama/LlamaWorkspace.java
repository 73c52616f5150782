package org.rlhf4j.core.model.llama;

import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The activations and backward scratch of one forward pass over {@code b} sequences of length
 * {@code T}, carved from one {@link Arena} and reused while the shape allows. Shapes use {@code n =
 * b*T}, {@code d}, {@code F}, {@code H} query and {@code KV} key/value heads of width {@code dh},
 * {@code qd = H*dh}, {@code kvd = KV*dh}.
 */
final class LlamaWorkspace implements AutoCloseable {
  /** What the backward pass needs from one block's forward pass. */
  static final class LayerActs {
    Tensor in; // [n, d] the block's input (residual stream)
    Tensor rstd1; // [n]
    Tensor xn1; // [n, d] RMSNorm(in)
    Tensor q; // [b*H, T, dh] rotated
    Tensor k; // [b*KV, T, dh] rotated
    Tensor v; // [b*KV, T, dh]
    Tensor att; // [b*H, T, T] probabilities
    Tensor y; // [n, qd] attention output, heads merged
    Tensor mid; // [n, d] residual after attention
    Tensor rstd2; // [n]
    Tensor xn2; // [n, d]
    Tensor gate; // [n, F]
    Tensor up; // [n, F]
    Tensor act; // [n, F] silu(gate) * up
  }

  private final LlamaConfig c;
  private final Arena arena;
  int b;
  int t;
  /** The blocks of the attention's per-group scratch ({@link #groupBlocks}). */
  private int groupBlocks;
  /** Whether the current pass ran with adapters (see {@code LinearAdapters#beginPass}). */
  boolean adapted;
  int[] ids = new int[0];
  int[] positions = new int[0];
  int[] keyMask = new int[0];

  LayerActs[] layers;
  Tensor last; // [n, d] the last block's output
  Tensor rstdF; // [n]
  Tensor hidden; // [n, d] final RMSNorm output
  Tensor logits; // [n, V]
  Tensor lse; // [b*(T-1)]
  // Forward scratch
  Tensor q2; // [n, qd]
  Tensor k2; // [n, kvd]
  Tensor v2; // [n, kvd]
  Tensor yh; // [blocks*rep, T, dh] a group's output heads (rep = H/KV), one block per range of groups
  // Backward scratch
  Tensor dResid; // [n, d]
  Tensor dHidden; // [n, d]
  Tensor dXn; // [n, d]
  Tensor dY; // [n, qd]
  Tensor dyh; // [blocks*rep, T, dh] (the backward's per-group scratch: one block per range of groups)
  Tensor dAtt; // [blocks*rep, T, T]
  Tensor dq; // [blocks*rep, T, dh]
  Tensor dk; // [blocks, T, dh]
  Tensor dv; // [blocks, T, dh]
  Tensor dq2; // [n, qd]
  Tensor dk2; // [n, kvd]
  Tensor dv2; // [n, kvd]
  Tensor dAct; // [n, F]
  Tensor dGate; // [n, F]
  Tensor dUp; // [n, F]
  Tensor dLogits; // [n, V]

  LlamaWorkspace(LlamaConfig config, DataType type) {
    this.c = config;
    this.arena = new Arena(type);
  }

  /**
   * Makes the workspace fit {@code b} sequences of length {@code t} on {@code threads} threads (no-op
   * if it already does).
   */
  void ensure(int b, int t, int threads) {
    int blocks = groupBlocks(c, b, threads);
    if (b == this.b && t == this.t && blocks == this.groupBlocks && layers != null) {
      return;
    }
    this.b = b;
    this.t = t;
    this.groupBlocks = blocks;
    int n = b * t;
    ids = new int[n];
    positions = new int[n];
    keyMask = new int[n];
    arena.layout(this::carve);
  }

  /**
   * The blocks of the attention's per-group scratch ({@link #yh}, {@link #dyh}, {@link #dAtt}, {@link
   * #dq}, {@link #dk}, {@link #dv}): one per range of key/value groups that runs at once ({@code
   * LlamaMath} splits the {@code b*KV} groups over at most {@code threads} threads), each reused by the
   * groups of its range in turn.
   */
  static int groupBlocks(LlamaConfig c, long b, int threads) {
    return (int) Math.max(1, Math.min(threads, b * c.kvHeads()));
  }

  private void carve(Arena a) {
    long n = (long) b * t;
    long d = c.hiddenSize();
    long f = c.intermediateSize();
    long dh = c.headDim();
    long bh = (long) b * c.heads();
    long bkv = (long) b * c.kvHeads();
    long qd = c.heads() * dh;
    long kvd = c.kvHeads() * dh;
    layers = new LayerActs[c.layers()];
    for (int l = 0; l < layers.length; l++) {
      LayerActs x = new LayerActs();
      x.in = a.take(n, d);
      x.rstd1 = a.take(n);
      x.xn1 = a.take(n, d);
      x.q = a.take(bh, t, dh);
      x.k = a.take(bkv, t, dh);
      x.v = a.take(bkv, t, dh);
      x.att = a.take(bh, t, t);
      x.y = a.take(n, qd);
      x.mid = a.take(n, d);
      x.rstd2 = a.take(n);
      x.xn2 = a.take(n, d);
      x.gate = a.take(n, f);
      x.up = a.take(n, f);
      x.act = a.take(n, f);
      layers[l] = x;
    }
    last = a.take(n, d);
    rstdF = a.take(n);
    hidden = a.take(n, d);
    logits = a.take(n, c.vocabSize());
    lse = a.take(Math.max(1, (long) b * (t - 1)));
    q2 = a.take(n, qd);
    k2 = a.take(n, kvd);
    v2 = a.take(n, kvd);
    long rep = c.heads() / c.kvHeads();
    yh = a.take(groupBlocks * rep, t, dh);
    dResid = a.take(n, d);
    dHidden = a.take(n, d);
    dXn = a.take(n, d);
    dY = a.take(n, qd);
    dyh = a.take(groupBlocks * rep, t, dh);
    dAtt = a.take(groupBlocks * rep, t, t);
    dq = a.take(groupBlocks * rep, t, dh);
    dk = a.take(groupBlocks, t, dh);
    dv = a.take(groupBlocks, t, dh);
    dq2 = a.take(n, qd);
    dk2 = a.take(n, kvd);
    dv2 = a.take(n, kvd);
    dAct = a.take(n, f);
    dGate = a.take(n, f);
    dUp = a.take(n, f);
    dLogits = a.take(n, c.vocabSize());
  }

  @Override
  public void close() {
    arena.close();
  }
}
