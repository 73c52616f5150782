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
   * {@code length} tokens (saturating at {@link Long#MAX_VALUE}).
   */
  public static long activationBytes(GptConfig c, DataType type, long batch, long length) {
    checkArgument(batch >= 0 && length >= 0, "batch and length must be >= 0, got %s and %s", batch, length);
    long d = c.dModel();
    long f = c.mlpDim();
    long h = c.heads();
    long v = c.vocabSize();
    // per token: each block keeps 11 d + 2 F + 2 + H T values (qkv 3d among them; the GELU's tanh is recomputed); the model adds 9 d + F + 2 V + 2 + H T
    // (the heads are read in place from qkv: no split/merged copies)
    double perToken = c.layers() * (11.0 * d + 2.0 * f + 2 + (double) h * length) + 9.0 * d + f + 2.0 * v + 2 + (double) h * length;
    double bytes = perToken * batch * length * elementBytes(type) + 12.0 * batch * length; // + int ids, masks, positions
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
