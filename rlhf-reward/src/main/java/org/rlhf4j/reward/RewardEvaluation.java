package org.rlhf4j.reward;

/**
 * How well a reward model reproduces held-out human rankings.
 *
 * @param accuracy the fraction of (winner, loser) pairs scored in the human order
 * @param meanMargin the mean of {@code r_winner - r_loser} over pairs
 * @param exactRankings the fraction of rankings whose full order is reproduced (equals accuracy for K=2)
 * @param meanReward the mean score of all responses
 * @param pairs the number of pairs
 * @param rankings the number of rankings
 */
public record RewardEvaluation(double accuracy, double meanMargin, double exactRankings, double meanReward, int pairs, int rankings) {}
