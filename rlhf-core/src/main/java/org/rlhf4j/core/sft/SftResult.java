package org.rlhf4j.core.sft;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.Optional;
import org.rlhf4j.core.train.Metrics;

/**
 * What an {@link SftTrainer} run did: its steps, losses, evaluations and timing, plus the
 * configuration and seed that produced it (provenance). Immutable.
 *
 * @param steps optimiser steps attempted
 * @param skippedSteps steps skipped because the loss or gradients were not finite
 * @param finalLoss the training loss of the last step
 * @param tokens target tokens trained on
 * @param seconds wall time
 * @param initialEval the evaluation before training (absent without eval data)
 * @param finalEval the evaluation after training (absent without eval data)
 * @param evaluations every evaluation, in order
 * @param config the trainer's configuration ({@link SftConfig#toMap()})
 */
public record SftResult(
    long steps,
    long skippedSteps,
    double finalLoss,
    long tokens,
    double seconds,
    Optional<SftEvaluation> initialEval,
    Optional<SftEvaluation> finalEval,
    ImmutableList<Metrics> evaluations,
    ImmutableMap<String, Object> config) {

  /** Target tokens per second of wall time. */
  public double tokensPerSecond() {
    return tokens / Math.max(seconds, 1e-9);
  }
}
