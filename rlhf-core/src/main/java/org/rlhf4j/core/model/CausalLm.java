package org.rlhf4j.core.model;

import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A causal (decoder-only) language model as trainers, samplers and optimisers see it, whatever its
 * architecture (GPT-2 in {@code org.rlhf4j.core.model.gpt2}; others implement this interface in
 * their own package). Parameters live in one flat buffer of named tensors ({@link #parameters()}),
 * their gradients in another of the same layout ({@link #gradients()}); {@link ForwardPass#backward}
 * adds to the gradients, so losses and micro-batches accumulate until {@link #zeroGradients()}.
 *
 * <p>An optional scalar head maps every position's final hidden state to one number (PPO's value
 * head, a reward model's score). A model is not thread-safe: one pass at a time, and a new {@link
 * #forward} invalidates the previous pass (decode sessions are the exception: several may be
 * prefilled and stepped from different threads at once, while the weights do not change). Close it
 * to free its native memory; using it afterwards throws {@link IllegalStateException}.
 */
public interface CausalLm extends AutoCloseable {

  /** The architecture's short name, e.g. {@code "gpt2"}. */
  String architecture();

  /**
   * The architecture's hyper-parameters as a JSON-ready map (what a checkpoint's {@code meta.json}
   * stores under {@code "model"}).
   */
  Map<String, Object> configMap();

  /** The number of token ids. */
  int vocabSize();

  /** The longest sequence the model accepts. */
  int contextLength();

  /** The width of the final hidden states (the residual stream, {@code d_model}). */
  int width();

  /** Whether the model has a scalar head ({@link ForwardPass#values()}). */
  boolean hasScalarHead();

  /** The element type and thread count. */
  ModelOptions options();

  /** The element type. */
  default DataType dataType() {
    return options().dataType();
  }

  /** The parameters (named views of one flat buffer); writing them changes the model. */
  FlatTensors parameters();

  /** The accumulated gradients, laid out like {@link #parameters()}. */
  FlatTensors gradients();

  /** Sets all gradients to zero. */
  void zeroGradients();

  /**
   * All parameters and gradients as one group for an optimiser (e.g. {@code new AdamW(config,
   * model.trainable())}), named after the model.
   */
  default Trainable trainable() {
    return new Trainable(toString(), parameters(), gradients(), options().threads());
  }

  /**
   * Runs the model on {@code batch}; the returned pass computes the heads on demand and
   * backpropagates. Invalidates any earlier pass of this model.
   *
   * @throws org.rlhf4j.core.RlhfException if a token id is outside the vocabulary or the batch is
   *     longer than the context
   */
  ForwardPass forward(TokenBatch batch);

  /** Runs the model on {@code [B, T]} token ids with an attention mask (any numeric types). */
  default ForwardPass forward(INDArray ids, INDArray mask) {
    return forward(TokenBatch.of(ids, mask));
  }

  /**
   * A key/value-cached decoder for {@code batch} sequences of at most {@code capacity} positions
   * (prompt plus new tokens), for sampling. The session reads this model's current parameters.
   */
  DecodeSession newDecodeSession(int batch, int capacity);

  /** A deep copy (parameters only; gradients start at zero) with the given options. */
  CausalLm copy(ModelOptions options);

  /**
   * A copy with a freshly initialised scalar head (random from {@code seed}), e.g. a reward model or
   * critic initialised from a policy. An existing head is re-initialised.
   */
  CausalLm withNewScalarHead(long seed);

  /**
   * A copy with a zero-initialised scalar head, for PPO's value head (every value starts at 0). An
   * existing head is replaced.
   */
  CausalLm withNewValueHead();

  /** Estimated bytes of the activations a forward and backward pass over {@code [batch, length]} keep. */
  long activationBytes(long batch, long length);

  /** Estimated bytes of a decode session's cache for {@code batch} sequences of {@code capacity} positions. */
  long decodeCacheBytes(long batch, long capacity);

  /** Whether {@link #close()} has been called. */
  boolean isClosed();

  /** Frees the model's native memory (idempotent). */
  @Override
  void close();
}
