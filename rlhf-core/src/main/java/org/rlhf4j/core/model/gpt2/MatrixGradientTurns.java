package org.rlhf4j.core.model.gpt2;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.rlhf4j.core.tensor.Tensor;

/**
 * One backward pass's order of the shards' additions into the blocks' weight-matrix gradients: shard
 * {@code s} adds its gradient of a matrix once shards {@code 0..s-1} have added theirs, so that every
 * matrix gets the same additions in the same order whatever the threads' timing, and the shards need
 * no private copies of the matrices to sum afterwards. A shard waits only for earlier shards, and the
 * first never waits, so the waits cannot form a cycle; if any shard fails, {@link #abort} makes the
 * waiting ones fail too instead of waiting for ever. The order is the same for every matrix: a shard
 * that may wait computes the layer's input gradient first ({@link ShardMath.SharedMatrixGradients#waits}),
 * which hides most waits (letting the shards take turns at going first, matrix after matrix, made a
 * {@code medium} step 0.3 % slower than summing after the pass, where this order is 1.3-1.6 % faster).
 */
final class MatrixGradientTurns {
  /** The matrices of a block, as {@link Weights.Block#tensor} indices: c_attn, attn.c_proj, c_fc, mlp.c_proj. */
  static final int[] MATRICES = {2, 4, 8, 10};
  /** Busy-wait rounds before a waiting shard yields its core on each round. */
  private static final int SPINS = 2_000;

  private final Weights into;
  private final AtomicIntegerArray added; // per (layer, matrix): how many shards have added theirs
  private volatile boolean aborted;

  /** Turns for adding into {@code into} (the model's gradients) over {@code layers} blocks. */
  MatrixGradientTurns(Weights into, int layers) {
    this.into = into;
    this.added = new AtomicIntegerArray(layers * MATRICES.length);
  }

  /** Makes every shard waiting for its turn fail: a shard before it failed and will not add its gradients. */
  void abort() {
    aborted = true;
  }

  /** Shard {@code s}'s view. */
  ShardMath.SharedMatrixGradients forShard(int s) {
    return new ShardMath.SharedMatrixGradients() {
      @Override
      public Tensor acquire(int layer, int k) {
        int slot = slot(layer, k);
        for (int spins = 0; added.get(slot) != s; spins++) {
          if (aborted) {
            throw new IllegalStateException("shard " + s + ": an earlier shard's backward pass failed before adding its gradients");
          }
          if (spins < SPINS) {
            Thread.onSpinWait();
          } else {
            Thread.yield();
          }
        }
        return into.blocks.get(layer).tensor(k);
      }

      @Override
      public void release(int layer, int k) {
        added.set(slot(layer, k), s + 1);
      }

      @Override
      public boolean waits() {
        return s > 0;
      }
    };
  }

  private static int slot(int layer, int k) {
    int m = switch (k) {
      case 2 -> 0;
      case 4 -> 1;
      case 8 -> 2;
      case 10 -> 3;
      default -> throw new IllegalArgumentException("not a block matrix: tensor " + k);
    };
    return layer * MATRICES.length + m;
  }
}
