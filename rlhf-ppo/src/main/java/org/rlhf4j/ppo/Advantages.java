package org.rlhf4j.ppo;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * Sequence-level advantage estimators for critic-free RL, named as in the papers. Scores are laid
 * out group by group: {@code scores[g * groupSize + j]} is sample {@code j} of prompt {@code g}
 * ({@code [numPrompts * groupSize]}). Pure functions; {@link Gae} is the token-level estimator with a
 * critic.
 */
public final class Advantages {
  private Advantages() {}

  /**
   * GRPO's group-normalised advantage (Shao et al. 2024, DeepSeekMath): {@code (r_i - mean_group) /
   * (std_group + eps)} with the sample standard deviation (Bessel-corrected, as TRL's {@code
   * torch.std}); a group of one sample, or a constant group with {@code eps = 0}, gets 0 (not NaN).
   */
  public static double[] groupNormalized(double[] scores, int groupSize, double eps) {
    check(scores, groupSize);
    checkArgument(eps >= 0 && Double.isFinite(eps), "eps must be finite and >= 0, got %s", eps);
    double[] out = new double[scores.length];
    for (int g = 0; g < scores.length; g += groupSize) {
      double mean = 0;
      for (int j = 0; j < groupSize; j++) {
        mean += scores[g + j];
      }
      mean /= groupSize;
      double ss = 0;
      for (int j = 0; j < groupSize; j++) {
        double d = scores[g + j] - mean;
        ss += d * d;
      }
      double std = groupSize > 1 ? Math.sqrt(ss / (groupSize - 1)) : 0;
      for (int j = 0; j < groupSize; j++) {
        out[g + j] = std + eps > 0 ? (scores[g + j] - mean) / (std + eps) : 0; // a constant group (or G = 1): 0
      }
    }
    return out;
  }

  /**
   * RLOO's leave-one-out advantage (Ahmadian et al. 2024): {@code r_i - mean_{j != i} r_j} within
   * each group; needs at least 2 samples per group.
   */
  public static double[] leaveOneOut(double[] scores, int groupSize) {
    check(scores, groupSize);
    checkArgument(groupSize >= 2, "leave-one-out needs groupSize >= 2, got %s", groupSize);
    double[] out = new double[scores.length];
    for (int g = 0; g < scores.length; g += groupSize) {
      double sum = 0;
      for (int j = 0; j < groupSize; j++) {
        sum += scores[g + j];
      }
      for (int j = 0; j < groupSize; j++) {
        out[g + j] = scores[g + j] - (sum - scores[g + j]) / (groupSize - 1);
      }
    }
    return out;
  }

  private static void check(double[] scores, int groupSize) {
    checkArgument(groupSize >= 1, "groupSize must be >= 1, got %s", groupSize);
    checkArgument(scores.length % groupSize == 0,
        "%s scores do not split into groups of %s", scores.length, groupSize);
    for (int i = 0; i < scores.length; i++) {
      if (!Double.isFinite(scores[i])) {
        throw new IllegalArgumentException("score " + i + " is " + scores[i] + " (must be finite)");
      }
    }
  }
}
