package org.rlhf4j.ppo.loop;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.LinkedHashMap;
import java.util.Map;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.reward.RewardConfig;

/**
 * The configuration of {@link RlhfLoop}: rounds, responses per prompt (K), prompts per round, PPO
 * steps per round, and the reward-model and PPO settings used in every round. Immutable; {@link
 * Builder#build()} names an invalid field.
 */
public final class RlhfLoopConfig {
  private final int rounds;
  private final int k;
  private final int promptsPerRound;
  private final int ppoStepsPerRound;
  private final RewardConfig reward;
  private final PpoConfig ppo;
  private final long seed;

  private RlhfLoopConfig(Builder b) {
    rounds = b.rounds;
    k = b.k;
    promptsPerRound = b.promptsPerRound;
    ppoStepsPerRound = b.ppoStepsPerRound;
    reward = b.reward;
    ppo = b.ppo;
    seed = b.seed;
  }

  /** Defaults: 3 rounds, K 4, 16 prompts and 10 PPO steps per round, default reward and PPO settings. */
  public static Builder builder() {
    return new Builder();
  }

  /** Rounds to run in total (a restarted loop runs the remaining ones). */
  public int rounds() {
    return rounds;
  }

  /** Responses sampled per prompt, ranked together. */
  public int k() {
    return k;
  }

  /** Prompts sent to the labeller per round. */
  public int promptsPerRound() {
    return promptsPerRound;
  }

  /** PPO steps after each reward-model update. */
  public int ppoStepsPerRound() {
    return ppoStepsPerRound;
  }

  /** The reward-model training of each round (its epochs are per round, over all comparisons so far). */
  public RewardConfig reward() {
    return reward;
  }

  /** PPO's settings (sampling temperature and length are also used for the labelling samples). */
  public PpoConfig ppo() {
    return ppo;
  }

  /** Seed of the prompt choice and labelling samples of each round. */
  public long seed() {
    return seed;
  }

  /** A JSON-friendly description. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("rounds", rounds);
    m.put("k", k);
    m.put("prompts_per_round", promptsPerRound);
    m.put("ppo_steps_per_round", ppoStepsPerRound);
    m.put("seed", seed);
    m.put("reward", reward.toMap());
    m.put("ppo", ppo.toMap());
    return m;
  }

  /** Builds a validated {@link RlhfLoopConfig}. */
  public static final class Builder {
    private int rounds = 3;
    private int k = 4;
    private int promptsPerRound = 16;
    private int ppoStepsPerRound = 10;
    private RewardConfig reward = RewardConfig.builder().build();
    private PpoConfig ppo = PpoConfig.builder().build();
    private long seed = 42;

    private Builder() {}

    /** Sets {@link RlhfLoopConfig#rounds()}. */
    public Builder rounds(int v) {
      rounds = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#k()}. */
    public Builder k(int v) {
      k = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#promptsPerRound()}. */
    public Builder promptsPerRound(int v) {
      promptsPerRound = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#ppoStepsPerRound()}. */
    public Builder ppoStepsPerRound(int v) {
      ppoStepsPerRound = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#reward()}. */
    public Builder reward(RewardConfig v) {
      reward = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#ppo()}. */
    public Builder ppo(PpoConfig v) {
      ppo = v;
      return this;
    }

    /** Sets {@link RlhfLoopConfig#seed()}. */
    public Builder seed(long v) {
      seed = v;
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public RlhfLoopConfig build() {
      checkArgument(rounds >= 1, "rounds must be >= 1, got %s", rounds);
      checkArgument(k >= 2, "k must be >= 2, got %s", k);
      checkArgument(promptsPerRound >= 1, "promptsPerRound must be >= 1, got %s", promptsPerRound);
      checkArgument(ppoStepsPerRound >= 0, "ppoStepsPerRound must be >= 0, got %s", ppoStepsPerRound);
      checkArgument(reward != null, "reward must be set");
      checkArgument(ppo != null, "ppo must be set");
      return new RlhfLoopConfig(this);
    }
  }
}
