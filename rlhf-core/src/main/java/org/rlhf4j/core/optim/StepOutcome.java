package org.rlhf4j.core.optim;

/**
 * What one optimiser step did.
 *
 * @param applied false if the step was skipped because the loss or a gradient was NaN or infinite
 * @param step the optimiser's step count after this call (skipped steps do not count)
 * @param learningRate the learning rate used (or that would have been used)
 * @param gradNorm the global gradient norm before clipping (NaN or infinite when skipped)
 * @param clipped whether the gradients were scaled down to {@code maxGradNorm}
 * @param skippedTotal how many steps this optimiser has skipped so far
 */
public record StepOutcome(boolean applied, long step, double learningRate, double gradNorm, boolean clipped, long skippedTotal) {}
