package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

/**
 * A linear layer a LoRA adapter may attach to: its full module name in the Hugging Face model (e.g.
 * {@code model.layers.0.self_attn.q_proj}, PEFT's key without {@code base_model.model.}) and its
 * feature counts. {@code A} is then {@code [r, inFeatures]} and {@code B} {@code [outFeatures, r]}.
 *
 * @param name the module name
 * @param inFeatures the layer's input width
 * @param outFeatures the layer's output width
 */
public record LinearModule(String name, int inFeatures, int outFeatures) {
  /** Checks the fields. */
  public LinearModule {
    checkNotNull(name, "name");
    checkArgument(!name.isEmpty(), "module name must not be empty");
    checkArgument(inFeatures > 0 && outFeatures > 0, "module %s: features must be positive, got in %s out %s", name, inFeatures,
        outFeatures);
  }

  /** The number of weights of the base layer (without its bias). */
  public long weightCount() {
    return (long) inFeatures * outFeatures;
  }

  /** The number of adapter parameters at rank {@code r}: {@code r · (in + out)}. */
  public long adapterCount(int r) {
    return (long) r * (inFeatures + outFeatures);
  }
}
