/**
 * Human preference data for reward-model training.
 *
 * <ul>
 *   <li>{@link org.rlhf4j.reward.data.Ranking}: K >= 2 responses to a prompt ranked best first;
 *       {@link org.rlhf4j.reward.data.Ranking#pairs()} expands it into C(K,2) weighted {@link
 *       org.rlhf4j.reward.data.PreferencePair}s, the unit the ranking loss is computed on.
 *   <li>{@link org.rlhf4j.reward.data.PreferenceDatasets}: TRL pairwise and implicit-prompt
 *       records, K-way rankings and ShareGPT records ({@link org.rlhf4j.reward.data.ShareGpt}),
 *       from JSON Lines files or JSON arrays.
 *   <li>{@link org.rlhf4j.reward.data.RatedTexts} and {@link org.rlhf4j.reward.data.RatedPairs}:
 *       texts with mean human ratings (the shared movie-review sentences), a leak-free held-out
 *       split, and comparisons sampled from rating differences.
 * </ul>
 *
 * <p>Every reader fails on the first bad record with a {@link
 * org.rlhf4j.core.data.DataFormatException} naming the file, line (or record index) and field.
 */
package org.rlhf4j.reward.data;
