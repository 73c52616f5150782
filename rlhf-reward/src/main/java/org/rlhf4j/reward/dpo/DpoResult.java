package org.rlhf4j.reward.dpo;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.Optional;
import org.rlhf4j.core.train.Metrics;

/**
 * What a {@link DpoTrainer} run did, with the configuration that produced it. Immutable.
 *
 * @param steps optimiser steps attempted
 * @param skippedSteps steps skipped because the loss or gradients were not finite
 * @param finalLoss the loss of the last step
 * @param trainRankings rankings trained on
 * @param trainPairs preference pairs they imply (C(K,2) per ranking)
 * @param seconds wall time, reference log-probabilities included
 * @param lastStep the metrics of the last step ({@code loss}, {@code rewards/*}, {@code logps/*}, ...)
 * @param initialEval held-out evaluation before training (absent without eval rankings)
 * @param finalEval held-out evaluation after training
 * @param evaluations every evaluation's metrics
 * @param config {@link DpoConfig#toMap()}
 */
public record DpoResult(
    long steps,
    long skippedSteps,
    double finalLoss,
    int trainRankings,
    int trainPairs,
    double seconds,
    Metrics lastStep,
    Optional<DpoEvaluation> initialEval,
    Optional<DpoEvaluation> finalEval,
    ImmutableList<Metrics> evaluations,
    ImmutableMap<String, Object> config) {}
