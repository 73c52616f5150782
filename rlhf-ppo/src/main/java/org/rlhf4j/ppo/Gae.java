package org.rlhf4j.ppo;

/**
 * Generalised advantage estimation (Schulman et al. 2016) over the response tokens of each row:
 * {@code delta_t = r_t + gamma V_{t+1} - V_t} (with {@code V = 0} after the last response token),
 * {@code A_t = delta_t + gamma lambda A_{t+1}}, returns {@code R_t = A_t + V_t}. Rows are {@code
 * [B][N]}; {@code length[b]} tokens of row {@code b} are real, later ones get 0. A pure function.
 */
public final class Gae {
  private Gae() {}

  /** Advantages and returns. */
  public record Result(double[][] advantages, double[][] returns) {}

  /**
   * Advantages and returns of ragged rows of per-token rewards and values.
   *
   * @param length real tokens per row
   */
  public static Result compute(double[][] rewards, double[][] values, int[] length, double gamma, double lambda) {
    int b = rewards.length;
    double[][] adv = new double[b][];
    double[][] ret = new double[b][];
    for (int i = 0; i < b; i++) {
      int n = rewards[i].length;
      adv[i] = new double[n];
      ret[i] = new double[n];
      double lastGae = 0;
      for (int t = length[i] - 1; t >= 0; t--) { // [N] backwards over real tokens
        double nextValue = t + 1 < length[i] ? values[i][t + 1] : 0.0;
        double delta = rewards[i][t] + gamma * nextValue - values[i][t];
        lastGae = delta + gamma * lambda * lastGae;
        adv[i][t] = lastGae;
        ret[i][t] = lastGae + values[i][t];
      }
    }
    return new Result(adv, ret);
  }
}
