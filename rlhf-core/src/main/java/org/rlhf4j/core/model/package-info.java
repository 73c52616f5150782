/**
 * The model seam: what trainers, samplers and optimisers need from a causal language model, with no
 * architecture in it.
 *
 * <ul>
 *   <li>{@link org.rlhf4j.core.model.CausalLm}: forward over a {@link
 *       org.rlhf4j.core.model.TokenBatch} giving a {@link org.rlhf4j.core.model.ForwardPass} (logits,
 *       per-token log-probabilities and entropy at a temperature, scalar-head values; backward from
 *       {@link org.rlhf4j.core.model.OutputGradients}), key/value-cached {@link
 *       org.rlhf4j.core.model.DecodeSession}s, parameters and gradients as {@link
 *       org.rlhf4j.core.model.FlatTensors}, copies with other {@link
 *       org.rlhf4j.core.model.ModelOptions} and with a new scalar head.
 *   <li>The parameter table: a family lists its tensors once as {@link
 *       org.rlhf4j.core.model.ParameterSpec}s (name, shape, initialisation, weight decay); {@link
 *       org.rlhf4j.core.model.ParameterLayout#of} derives the flat layout and {@link
 *       org.rlhf4j.core.model.Initializer} the seeded initial values.
 *   <li>{@link org.rlhf4j.core.model.Trainable}: parameters and gradients as one optimiser group
 *       ({@link org.rlhf4j.core.model.CausalLm#trainable()}, or an adapter's own tensors).
 * </ul>
 *
 * <p>A model family lives in its own package (GPT-2 in {@code org.rlhf4j.core.model.gpt2}) and
 * implements {@code CausalLm}, {@code ForwardPass} and {@code DecodeSession} there, without changing
 * this package. Its contract, checked for GPT-2 and for a test family: backward passes agree with
 * finite differences; a decode session's logits equal a full pass's over the same tokens; results
 * depend only on the seed and the thread count; a stale pass and use after close throw {@link
 * java.lang.IllegalStateException}.
 */
package org.rlhf4j.core.model;
