package org.rlhf4j.core.generate;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableSet;
import java.util.Set;

/**
 * How to sample continuations: temperature, top-k, top-p (nucleus), greedy decoding, the number of
 * new tokens and the tokens that end a sequence. Immutable; {@link Builder#build()} names an invalid
 * field.
 */
public final class SamplingConfig {
  private final double temperature;
  private final int topK;
  private final double topP;
  private final boolean greedy;
  private final int maxNewTokens;
  private final int minNewTokens;
  private final ImmutableSet<Integer> stopTokens;

  private SamplingConfig(Builder b) {
    this.minNewTokens = b.minNewTokens;
    this.temperature = b.temperature;
    this.topK = b.topK;
    this.topP = b.topP;
    this.greedy = b.greedy;
    this.maxNewTokens = b.maxNewTokens;
    this.stopTokens = ImmutableSet.copyOf(b.stopTokens);
  }

  /** A builder: temperature 1, no top-k/top-p filtering, 32 new tokens, no stop tokens. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this configuration. */
  public Builder toBuilder() {
    return new Builder()
        .temperature(temperature)
        .topK(topK)
        .topP(topP)
        .greedy(greedy)
        .maxNewTokens(maxNewTokens)
        .minNewTokens(minNewTokens)
        .stopTokens(stopTokens);
  }

  /** Logits are divided by this before sampling (and before the log-probs are taken). */
  public double temperature() {
    return temperature;
  }

  /** Keep only the {@code topK} most likely tokens (0 = no limit). */
  public int topK() {
    return topK;
  }

  /** Keep the smallest set of most likely tokens whose probability reaches {@code topP} (1 = all). */
  public double topP() {
    return topP;
  }

  /** Take the most likely token instead of sampling. */
  public boolean greedy() {
    return greedy;
  }

  /** The maximum number of tokens generated per sequence. */
  public int maxNewTokens() {
    return maxNewTokens;
  }

  /**
   * Stop tokens cannot be sampled before this many new tokens (Hugging Face's {@code
   * min_new_tokens}); the reported log-probabilities are then those of the distribution without them.
   */
  public int minNewTokens() {
    return minNewTokens;
  }

  /** Tokens that end a sequence (kept as its last token), typically the tokenizer's EOS. */
  public ImmutableSet<Integer> stopTokens() {
    return stopTokens;
  }

  @Override
  public String toString() {
    return "SamplingConfig{temperature=" + temperature + ", topK=" + topK + ", topP=" + topP + ", greedy=" + greedy
        + ", maxNewTokens=" + maxNewTokens + ", minNewTokens=" + minNewTokens + ", stopTokens=" + stopTokens + "}";
  }

  /** Builds a validated {@link SamplingConfig}. */
  public static final class Builder {
    private double temperature = 1.0;
    private int topK;
    private double topP = 1.0;
    private boolean greedy;
    private int maxNewTokens = 32;
    private int minNewTokens;
    private Set<Integer> stopTokens = Set.of();

    private Builder() {}

    /** Positive and finite (default 1). */
    public Builder temperature(double v) {
      this.temperature = v;
      return this;
    }

    /** 0 (off) or positive (default 0). */
    public Builder topK(int v) {
      this.topK = v;
      return this;
    }

    /** In (0, 1] (default 1 = off). */
    public Builder topP(double v) {
      this.topP = v;
      return this;
    }

    /** Greedy decoding (default false). */
    public Builder greedy(boolean v) {
      this.greedy = v;
      return this;
    }

    /** At least 1 (default 32). */
    public Builder maxNewTokens(int v) {
      this.maxNewTokens = v;
      return this;
    }

    /** At least 0 and at most maxNewTokens (default 0). */
    public Builder minNewTokens(int v) {
      this.minNewTokens = v;
      return this;
    }

    /** Token ids that end a sequence. */
    public Builder stopTokens(Set<Integer> v) {
      this.stopTokens = Set.copyOf(v);
      return this;
    }

    /** Token ids that end a sequence. */
    public Builder stopTokens(int... ids) {
      ImmutableSet.Builder<Integer> s = ImmutableSet.builder();
      for (int id : ids) {
        s.add(id);
      }
      this.stopTokens = s.build();
      return this;
    }

    /** The configuration; {@link IllegalArgumentException} names the first invalid field. */
    public SamplingConfig build() {
      checkArgument(temperature > 0 && Double.isFinite(temperature), "temperature must be positive and finite, got %s", temperature);
      checkArgument(topK >= 0, "topK must be >= 0, got %s", topK);
      checkArgument(topP > 0 && topP <= 1, "topP must be in (0, 1], got %s", topP);
      checkArgument(maxNewTokens >= 1, "maxNewTokens must be >= 1, got %s", maxNewTokens);
      checkArgument(minNewTokens >= 0 && minNewTokens <= maxNewTokens, "minNewTokens must be in [0, maxNewTokens=%s], got %s", maxNewTokens, minNewTokens);
      for (int id : stopTokens) {
        checkArgument(id >= 0, "stopTokens must be non-negative ids, got %s", id);
      }
      return new SamplingConfig(this);
    }
  }
}
