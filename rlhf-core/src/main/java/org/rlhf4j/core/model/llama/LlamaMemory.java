package org.rlhf4j.core.model.llama;

import static com.google.common.base.Preconditions.checkArgument;
import static org.rlhf4j.core.model.MemoryEstimate.elementBytes;
import static org.rlhf4j.core.model.MemoryEstimate.saturate;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Memory estimates of the Llama family (see {@link org.rlhf4j.core.model.MemoryEstimate}): the
 * buffers of {@code LlamaWorkspace} and of {@link LlamaDecodeSession}, counted from a {@link
 * LlamaConfig}.
 */
public final class LlamaMemory {
  private LlamaMemory() {}

  /**
   * The activations and backward scratch of a forward/backward pass over {@code batch} sequences of
   * {@code length} tokens on one thread (saturating at {@link Long#MAX_VALUE}).
   */
  public static long activationBytes(LlamaConfig c, DataType type, long batch, long length) {
    return activationBytes(c, type, batch, length, 1);
  }

  /**
   * The activations and backward scratch of a forward/backward pass over {@code batch} sequences of
   * {@code length} tokens on {@code threads} threads (saturating at {@link Long#MAX_VALUE}).
   */
  public static long activationBytes(LlamaConfig c, DataType type, long batch, long length, int threads) {
    checkArgument(batch >= 0 && length >= 0, "batch and length must be >= 0, got %s and %s", batch, length);
    checkArgument(threads >= 1, "threads must be >= 1, got %s", threads);
    double d = c.hiddenSize();
    double f = c.intermediateSize();
    double dh = c.headDim();
    double qd = (double) c.heads() * dh;
    double kvd = (double) c.kvHeads() * dh;
    double att = (double) c.heads() * length;
    double v = c.vocabSize();
    // per token: each block keeps 4d + 2 + 2qd + 2kvd + H*T + 3F; the workspace adds 5d + 2 + 2V + 3qd + 4kvd + 3F
    double perToken = c.layers() * (4 * d + 2 + 2 * qd + 2 * kvd + att + 3 * f) + 5 * d + 2 + 2 * v + 3 * qd + 4 * kvd + 3 * f;
    // and the attention's per-group scratch, one block per range of key/value groups running at once:
    // yh, dyh, dq [rep*T, dh], dk, dv [T, dh], dAtt [rep*T, T]
    double rep = (double) c.heads() / c.kvHeads();
    double perBlock = length * (3 * rep * dh + 2 * dh + rep * length);
    double blocks = batch == 0 ? 0 : LlamaWorkspace.groupBlocks(c, batch, threads);
    return saturate((perToken * batch * length + blocks * perBlock) * elementBytes(type) + 12.0 * batch * length);
  }

  /** The key/value cache ({@code KV} heads per layer) and scratch of a decode session. */
  public static long decodeCacheBytes(LlamaConfig c, DataType type, long batch, long capacity) {
    double kvd = (double) c.kvHeads() * c.headDim();
    double qd = (double) c.heads() * c.headDim();
    double perRow = 2.0 * c.layers() * kvd * capacity + 4.0 * c.hiddenSize() + 1 + 2 * qd + 2 * kvd + 3.0 * c.intermediateSize() + 2.0 * c.vocabSize();
    return saturate(perRow * batch * elementBytes(type));
  }

  /** The parameters' count times {@code copies} (weights, gradients, optimiser moments), in bytes. */
  public static long parameterBytes(LlamaConfig c, DataType type, int copies) {
    return saturate((double) c.parameterCount() * copies * elementBytes(type));
  }
}
