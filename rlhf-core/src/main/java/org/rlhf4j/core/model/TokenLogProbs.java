package org.rlhf4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Per-token outputs of the LM head at a temperature: {@code logProbs[b, t] = log p(x[b, t+1] |
 * x[b, ..t])} and the entropy of that next-token distribution, both {@code [B, T-1]}. Positions whose
 * target is padding hold meaningless values and must be masked by the caller.
 */
public record TokenLogProbs(INDArray logProbs, INDArray entropy, double temperature) {}
