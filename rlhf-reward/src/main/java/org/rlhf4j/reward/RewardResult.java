package org.rlhf4j.reward;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.Optional;
import org.rlhf4j.core.train.Metrics;

/**
 * What a {@link RewardTrainer} run did, with the configuration that produced it. Immutable.
 *
 * @param steps optimiser steps attempted
 * @param skippedSteps steps skipped because the loss or gradients were not finite
 * @param finalLoss the loss of the last step
 * @param trainRankings rankings trained on
 * @param seconds wall time
 * @param initialEval held-out evaluation before training (absent without eval data)
 * @param finalEval held-out evaluation after training
 * @param evaluations every evaluation's metrics
 * @param config {@link RewardConfig#toMap()}
 */
public record RewardResult(
    long steps,
    long skippedSteps,
    double finalLoss,
    int trainRankings,
    double seconds,
    Optional<RewardEvaluation> initialEval,
    Optional<RewardEvaluation> finalEval,
    ImmutableList<Metrics> evaluations,
    ImmutableMap<String, Object> config) {}
