package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * Named parameters and their accumulated gradients, as an optimiser sees them: two {@link
 * FlatTensors} of one {@link ParameterLayout} (whose decay prefix says which tensors are
 * weight-decayed). A model gives its whole parameter set through {@link CausalLm#trainable()}; an
 * adapter (e.g. LoRA) can hand the optimiser only its own tensors. The optimiser reads the gradients
 * and writes the parameters in place.
 *
 * @param name names the group in messages (e.g. {@code "policy"})
 * @param parameters the values, updated in place
 * @param gradients the gradients, laid out like {@code parameters}, of the same element type
 * @param threads how many threads element-wise updates of this group may use (at least 1)
 */
public record Trainable(String name, FlatTensors parameters, FlatTensors gradients, int threads) {
  public Trainable {
    checkArgument(name != null, "a trainable group needs a name");
    checkArgument(parameters != null && gradients != null, "trainable group %s needs parameters and gradients", name);
    checkArgument(
        parameters.layout().totalSize() == gradients.layout().totalSize()
            && parameters.layout().decaySize() == gradients.layout().decaySize(),
        "trainable group %s: gradients (%s elements) are not laid out like the parameters (%s elements)",
        name,
        gradients.layout().totalSize(),
        parameters.layout().totalSize());
    checkArgument(
        parameters.dataType() == gradients.dataType(),
        "trainable group %s: parameters are %s but gradients %s",
        name,
        parameters.dataType(),
        gradients.dataType());
    checkArgument(threads >= 1, "trainable group %s: threads must be >= 1, got %s", name, threads);
  }

  /** The element type. */
  public DataType dataType() {
    return parameters.dataType();
  }
}
