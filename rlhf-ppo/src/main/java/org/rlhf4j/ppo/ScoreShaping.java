package org.rlhf4j.ppo;

/**
 * What PPO does to the reward model's scores before they become rewards, in TRL's order: responses
 * without EOS get a replacement score or a penalty; then, optionally, scores are divided by their
 * running standard deviation (and centred on their running mean); then clipped to {@code [-c, c]}.
 * Holds the running moments, which are part of the trainer's state.
 */
public final class ScoreShaping {
  private final PpoConfig config;
  private final RunningMoments moments = new RunningMoments();

  /** Shaping as configured by {@code config}. */
  public ScoreShaping(PpoConfig config) {
    this.config = config;
  }

  /** The shaped scores of a batch ({@code hasEos[i]}: whether response {@code i} ended with EOS). */
  public double[] apply(double[] raw, boolean[] hasEos) {
    double[] s = raw.clone();
    for (int i = 0; i < s.length; i++) {
      if (!hasEos[i] && !Double.isNaN(config.nonEosScore())) {
        s[i] = config.nonEosScore();
      } else if (!hasEos[i] && !Double.isNaN(config.missingEosPenalty())) {
        s[i] -= config.missingEosPenalty();
      }
    }
    if (config.scoreScaling()) {
      moments.update(s);
      double factor = moments.std() + Math.ulp(1.0f);
      for (int i = 0; i < s.length; i++) {
        s[i] = config.scoreNorm() ? (s[i] - moments.mean()) / factor : s[i] / factor;
      }
    }
    if (config.scoreClip() > 0) {
      for (int i = 0; i < s.length; i++) {
        s[i] = Math.max(-config.scoreClip(), Math.min(config.scoreClip(), s[i]));
      }
    }
    return s;
  }

  /** The running moments of the (EOS-adjusted) scores. */
  public RunningMoments moments() {
    return moments;
  }
}
