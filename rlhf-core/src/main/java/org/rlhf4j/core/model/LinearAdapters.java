package org.rlhf4j.core.model;

import org.rlhf4j.core.tensor.Tensor;

/**
 * Extra trainable paths on a model's linear layers (LoRA adapters), which a model calls around its
 * matrix products. A linear layer is named by its Hugging Face module name (e.g. {@code
 * model.layers.0.self_attn.q_proj}, {@code lm_head}); {@code x} is its input {@code [n, in]} and
 * {@code y} its output {@code [n, out]}, to which the adapter's output is added.
 *
 * <p>A full forward pass starts with {@link #beginPass}; when that returns false (adapters disabled
 * or merged), the model makes no other call for the pass, and its backward pass makes none either.
 * While {@link #freezesBase()}, the model skips the gradients of its own weights (only the adapters
 * and {@link #parameter overridden} tensors are trained).
 */
public interface LinearAdapters {

  /**
   * Starts a full forward pass over {@code rows} rows (batch times length); returns whether the
   * adapters take part in it.
   */
  boolean beginPass(int rows);

  /** Adds the adapter's output of {@code x} to {@code y} and keeps what {@link #backward} needs. */
  void forward(String module, Tensor x, Tensor y, int ways);

  /**
   * Adds to the adapter's gradients and to {@code dx} (the gradient of the layer's input), given the
   * output's gradient {@code dy}; {@code x} is the forward pass's input. {@code dx} is {@code null}
   * when nothing needs the input's gradient (the lowest adapted layer of a frozen base).
   */
  void backward(String module, Tensor x, Tensor dy, Tensor dx, int ways);

  /**
   * Whether {@code module} has an adapter (its {@link #forward} and {@link #backward} do anything); a
   * model on a frozen base stops its backward pass below the lowest adapted module. Implementations
   * that cannot tell return {@code true}.
   */
  default boolean adapts(String module) {
    return true;
  }

  /** Whether a cached decoding step adds the adapters (enabled and not merged). */
  boolean activeForDecode();

  /** Adds the adapter's output of {@code x} to {@code y} for a cached decoding step (keeps nothing). */
  void decodeForward(String module, Tensor x, Tensor y, int ways);

  /**
   * Whether the model's own weights are frozen (no gradients computed for them); the model's {@link
   * CausalLm#trainable()} is then {@link #trainable(int)}, so every trainer optimises the adapters
   * alone.
   */
  boolean freezesBase();

  /** The adapters' tensors and gradients as one optimiser group. */
  Trainable trainable(int threads);

  /** Sets the adapters' gradients to zero (the model's {@code zeroGradients()} calls it). */
  void zeroGradients();

  /**
   * The tensor the model uses for its parameter {@code name} during an adapted pass: a trained copy
   * (PEFT's {@code modules_to_save}, e.g. a reward model's head) or {@code base} itself.
   */
  Tensor parameter(String name, Tensor base);

  /** The gradient buffer of {@link #parameter}: the copy's, or {@code baseGradient}. */
  Tensor parameterGradient(String name, Tensor baseGradient);

  /**
   * The adapters as seen by shard {@code shard} of a model that splits a batch into shards computed
   * in parallel: shard 0 is this object; every other shard has its own activations and its own
   * gradient buffers, added to the adapters' gradients by {@link #sumShardGradients}.
   */
  default LinearAdapters forShard(int shard) {
    if (shard == 0) {
      return this;
    }
    throw new UnsupportedOperationException(getClass().getSimpleName() + " has no per-shard state");
  }

  /** Adds shards 1..{@code shards}-1's gradients to the adapters' (in shard order) and zeroes them. */
  default void sumShardGradients(int shards) {}
}
