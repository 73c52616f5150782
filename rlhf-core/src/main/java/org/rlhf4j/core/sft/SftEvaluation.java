package org.rlhf4j.core.sft;

/**
 * The language-modelling loss of a model on held-out sequences.
 *
 * @param loss mean negative log-likelihood per target token (nats)
 * @param perplexity {@code exp(loss)}
 * @param tokens target tokens evaluated
 */
public record SftEvaluation(double loss, double perplexity, long tokens) {}
