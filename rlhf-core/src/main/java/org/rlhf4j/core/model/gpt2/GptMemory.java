package org.rlhf4j.core.model.gpt2;

import static com.google.common.base.Preconditions.checkArgument;
import static org.rlhf4j.core.model.MemoryEstimate.elementBytes;
import static org.rlhf4j.core.model.MemoryEstimate.saturate;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * GPT-2's memory estimates (see {@link org.rlhf4j.core.model.MemoryEstimate}): the buffers of {@code
 * ShardWorkspace} and of {@code GptDecodeSession}, counted from a {@link GptConfig}.
 */
public final class GptMemory {
  private GptMemory() {}

  /**
   * The activations and backward scratch of a forward/backward pass over {@code batch} sequences of
   * {@code length} tokens on one thread (saturating at {@link Long#MAX_VALUE}).
   */
  public static long activationBytes(GptConfig c, DataType type, long batch, long length) {
    return activationBytes(c, type, batch, length, 1);
  }

  /**
   * The activations and backward scratch of a forward/backward pass over {@code batch} sequences of
   * {@code length} tokens on {@code threads} threads (saturating at {@link Long#MAX_VALUE}): the
   * batch is cut into {@code min(threads, batch)} shards, each with its own buffers.
   */
  public static long activationBytes(GptConfig c, DataType type, long batch, long length, int threads) {
    checkArgument(batch >= 0 && length >= 0, "batch and length must be >= 0, got %s and %s", batch, length);
    checkArgument(threads >= 1, "threads must be >= 1, got %s", threads);
    long d = c.dModel();
    long f = c.mlpDim();
    long h = c.heads();
    long v = c.vocabSize();
    // per token: each block keeps 10 d + 2 F + 2 + H T values (qkv 3d among them; GELU's slope over its input); the
    // model adds 10 d + F + 2 V + 2 (its LayerNorm, logits, backward scratch; the heads are read in place from qkv)
    double perToken = c.layers() * (10.0 * d + 2.0 * f + 2 + (double) h * length) + 10.0 * d + f + 2.0 * v + 2;
    // and each shard the LayerNorm backward's partial sums, and one [T, T] block of score gradients per head
    // range running at once: a shard of one sequence splits its heads over its threads when there are more
    // threads than sequences
    long shards = Math.min(threads, batch);
    double perShard = 0;
    for (long s = 0; s < shards; s++) {
      int ways = GptModel.intraShardWays(threads, (int) shards, (int) s);
      long blocks = batch < threads ? Math.max(1, Math.min(ways, h)) : 1;
      perShard += 2.0 * ShardWorkspace.MAX_NORM_PARTS * d + (double) blocks * length * length;
    }
    double bytes = (perToken * batch * length + perShard) * elementBytes(type) + 12.0 * batch * length; // + int ids, masks, positions
    return saturate(bytes);
  }

  /** The key/value cache and scratch of a {@code GptDecodeSession} of {@code batch} sequences of {@code capacity} positions. */
  public static long decodeCacheBytes(GptConfig c, DataType type, long batch, long capacity) {
    double bytes = (2.0 * c.layers() * c.dModel() * capacity + 8.0 * c.dModel() + 3.0 * c.mlpDim() + 2.0 * c.vocabSize())
        * batch * elementBytes(type);
    return saturate(bytes);
  }

  /** The parameters' count times {@code copies} (weights, gradients, optimiser moments), in bytes. */
  public static long parameterBytes(GptConfig c, DataType type, int copies) {
    return saturate((double) c.parameterCount() * copies * elementBytes(type));
  }
}
