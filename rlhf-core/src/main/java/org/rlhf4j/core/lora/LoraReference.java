package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.Map;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.Trainable;

/**
 * A LoRA policy's base model, seen as a model of its own: every {@link #forward} runs the policy's
 * model with its adapter disabled, so PPO and DPO get their frozen reference without a second copy
 * of the weights ({@code .reference(LoraReference.of(policy, adapter))}). The pass records that it
 * ran without the adapter, so its outputs stay the base model's even after the adapter is enabled
 * again.
 *
 * <p>The view is frozen: it has no gradients of its own ({@link #zeroGradients()} does nothing,
 * {@link #trainable()} throws) and it does not sample ({@link #newDecodeSession} throws). Closing it
 * does not close the policy. Like the policy, it is not thread-safe, and a pass of either
 * invalidates the other's earlier pass.
 */
public final class LoraReference implements CausalLm {
  private final CausalLm model;
  private final LoraAdapter adapter;

  private LoraReference(CausalLm model, LoraAdapter adapter) {
    this.model = model;
    this.adapter = adapter;
  }

  /** The base of {@code policy}, whose attached adapter is {@code adapter}. */
  public static LoraReference of(CausalLm policy, LoraAdapter adapter) {
    return new LoraReference(checkNotNull(policy, "policy"), checkNotNull(adapter, "adapter"));
  }

  /** The policy model this view runs. */
  public CausalLm policy() {
    return model;
  }

  @Override
  public ForwardPass forward(TokenBatch batch) {
    try (LoraAdapter.Disabled off = adapter.disable()) {
      return model.forward(batch);
    }
  }

  @Override
  public String architecture() {
    return model.architecture();
  }

  @Override
  public Map<String, Object> configMap() {
    return model.configMap();
  }

  @Override
  public int vocabSize() {
    return model.vocabSize();
  }

  @Override
  public int contextLength() {
    return model.contextLength();
  }

  @Override
  public int width() {
    return model.width();
  }

  @Override
  public boolean hasScalarHead() {
    return model.hasScalarHead();
  }

  @Override
  public ModelOptions options() {
    return model.options();
  }

  /** The base model's parameters (the policy's; do not write them). */
  @Override
  public FlatTensors parameters() {
    return model.parameters();
  }

  @Override
  public FlatTensors gradients() {
    return model.gradients();
  }

  /** Does nothing: the reference is frozen and must not clear the policy's gradients. */
  @Override
  public void zeroGradients() {}

  /** Always throws: the reference model is frozen. */
  @Override
  public Trainable trainable() {
    throw new UnsupportedOperationException("the LoRA reference model (the policy's base) is frozen; optimise the policy");
  }

  /** Always throws: sample from the policy. */
  @Override
  public DecodeSession newDecodeSession(int batch, int capacity) {
    throw new UnsupportedOperationException("the LoRA reference model only scores; sample from the policy");
  }

  /** A copy of the base model (without the adapter). */
  @Override
  public CausalLm copy(ModelOptions options) {
    return model.copy(options);
  }

  @Override
  public CausalLm withNewScalarHead(long seed) {
    return model.withNewScalarHead(seed);
  }

  @Override
  public CausalLm withNewValueHead() {
    return model.withNewValueHead();
  }

  @Override
  public long activationBytes(long batch, long length) {
    return model.activationBytes(batch, length);
  }

  @Override
  public long decodeCacheBytes(long batch, long capacity) {
    return model.decodeCacheBytes(batch, capacity);
  }

  @Override
  public boolean isClosed() {
    return model.isClosed() || adapter.isClosed();
  }

  /** Does nothing: the view does not own the policy. */
  @Override
  public void close() {}

  @Override
  public String toString() {
    return "LoraReference(" + model + ")";
  }
}
