package org.rlhf4j.reward.sampling;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.RewardModel;

/**
 * Best-of-n sampling (rejection sampling against a reward model): draw {@code n} responses per
 * prompt from a policy, score each with a reward model and keep the highest scored. It is the
 * simplest way to use a reward model at inference time and the usual baseline for RL fine-tuning
 * (Nakano et al. 2021; Gao et al. 2022), whose KL to the sampling policy is known in closed form:
 * {@link #analyticKl(int)} = {@code log n - (n - 1) / n}.
 *
 * <p>{@link #sample} keeps every candidate in sampling order, so the best of the first {@code k}
 * ({@link Candidates#bestOf(int)}) is a best-of-k sample for every {@code k <= n} from one draw.
 * Sampling is seeded: the same seed, inputs and thread count give the same candidates. Not
 * thread-safe (the model's buffers are shared).
 */
public final class BestOfNSampler {
  private final CausalLm model;
  private final RewardModel rewardModel;
  private final Tokenizer tokenizer;
  private final SamplingConfig sampling;
  private final int batchSize;
  private final boolean addBos;

  /**
   * One prompt's candidates, in sampling order, with their reward-model scores.
   *
   * @param prompt the prompt
   * @param responses the decoded responses
   * @param scores the reward model's score of each response
   * @param sequences each candidate's token ids as scored: the prompt's (BOS first if added), then
   *     the response's (the stop token included if one was produced), e.g. to score them with
   *     another reward model
   */
  public record Candidates(String prompt, ImmutableList<String> responses, double[] scores, ImmutableList<int[]> sequences) {
    /** Checks that there is a score and a sequence per response. */
    public Candidates {
      Preconditions.checkArgument(responses.size() == scores.length && responses.size() == sequences.size(),
          "%s responses, %s scores and %s sequences", responses.size(), scores.length, sequences.size());
      Preconditions.checkArgument(!responses.isEmpty(), "no candidates for prompt %s", prompt);
    }

    /** How many candidates were drawn. */
    public int n() {
      return responses.size();
    }

    /**
     * The index of the highest-scored of the first {@code k} candidates (the first one on ties).
     *
     * @throws IllegalArgumentException if {@code k} is outside {@code [1, n()]}
     */
    public int bestOf(int k) {
      Preconditions.checkArgument(k >= 1 && k <= n(), "k must be in [1, %s], got %s", n(), k);
      int best = 0;
      for (int i = 1; i < k; i++) {
        if (scores[i] > scores[best]) {
          best = i;
        }
      }
      return best;
    }

    /** The best of all candidates' response. */
    public String best() {
      return responses.get(bestOf(n()));
    }
  }

  private BestOfNSampler(Builder b) {
    this.model = b.model;
    this.rewardModel = b.rewardModel;
    this.tokenizer = b.tokenizer;
    this.sampling = b.sampling;
    this.batchSize = b.batchSize;
    this.addBos = b.addBos;
  }

  /** A builder for a sampler of {@code model}'s responses scored by {@code rewardModel}. */
  public static Builder builder(CausalLm model, RewardModel rewardModel, Tokenizer tokenizer) {
    return new Builder(model, rewardModel, tokenizer);
  }

  /**
   * The analytic KL divergence (nats) of best-of-{@code n} sampling from the sampling policy,
   * {@code log n - (n - 1) / n} (Stiennon et al. 2020, appendix G.3): 0 for {@code n = 1}.
   *
   * @throws IllegalArgumentException if {@code n < 1}
   */
  public static double analyticKl(int n) {
    Preconditions.checkArgument(n >= 1, "n must be at least 1, got %s", n);
    return Math.log(n) - (n - 1.0) / n;
  }

  /**
   * Draws {@code n} responses for each prompt and scores them.
   *
   * @param prompts the prompts (plain text, not empty)
   * @param n candidates per prompt, at least 1
   * @param seed the sampling seed
   */
  public List<Candidates> sample(List<String> prompts, int n, long seed) {
    Preconditions.checkNotNull(prompts, "prompts");
    Preconditions.checkArgument(n >= 1, "n must be at least 1, got %s", n);
    // Flatten (prompt, candidate) pairs so that batches are full whatever n is.
    List<String> flat = new ArrayList<>(prompts.size() * n);
    for (int i = 0; i < prompts.size(); i++) {
      Preconditions.checkArgument(prompts.get(i) != null, "prompts[%s] is null", i);
      for (int j = 0; j < n; j++) {
        flat.add(prompts.get(i));
      }
    }
    String[] responses = new String[flat.size()];
    int[][] sequences = new int[flat.size()][];
    double[] scores = new double[flat.size()];
    SplittableRandom rng = new SplittableRandom(seed);
    for (int start = 0; start < flat.size(); start += batchSize) {
      List<String> chunk = flat.subList(start, Math.min(flat.size(), start + batchSize));
      List<int[]> ids = new ArrayList<>(chunk.size());
      for (String p : chunk) {
        ids.add(tokenizer.encodePrompt(p, addBos));
      }
      Generation g = Generator.generate(model, TokenBatch.leftPadded(ids, tokenizer.padId()), sampling, rng, tokenizer.padId());
      double[] s = rewardModel.score(g.sequences(), g.prompts().length()).toDoubleVector();
      for (int i = 0; i < chunk.size(); i++) {
        int[] r = g.response(i);
        responses[start + i] = tokenizer.decode(r);
        int[] prompt = ids.get(i);
        int[] seq = Arrays.copyOf(prompt, prompt.length + r.length);
        System.arraycopy(r, 0, seq, prompt.length, r.length);
        sequences[start + i] = seq;
        if (!Double.isFinite(s[i])) {
          throw new IllegalStateException("the reward model gave a non-finite score " + s[i] + " to the response " + responses[start + i] + " of prompt " + chunk.get(i));
        }
        scores[start + i] = s[i];
      }
    }
    List<Candidates> out = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      ImmutableList.Builder<String> r = ImmutableList.builder();
      ImmutableList.Builder<int[]> q = ImmutableList.builder();
      double[] sc = new double[n];
      for (int j = 0; j < n; j++) {
        r.add(responses[i * n + j]);
        q.add(sequences[i * n + j]);
        sc[j] = scores[i * n + j];
      }
      out.add(new Candidates(prompts.get(i), r.build(), sc, q.build()));
    }
    return out;
  }

  /** The best of {@code n} response for each prompt: {@code sample(prompts, n, seed)}'s best. */
  public List<String> best(List<String> prompts, int n, long seed) {
    return sample(prompts, n, seed).stream().map(Candidates::best).toList();
  }

  /** Builds a {@link BestOfNSampler}. */
  public static final class Builder {
    private final CausalLm model;
    private final RewardModel rewardModel;
    private final Tokenizer tokenizer;
    private SamplingConfig sampling;
    private int batchSize = 32;
    private boolean addBos = true;

    private Builder(CausalLm model, RewardModel rewardModel, Tokenizer tokenizer) {
      this.model = Preconditions.checkNotNull(model, "model");
      this.rewardModel = Preconditions.checkNotNull(rewardModel, "rewardModel");
      this.tokenizer = Preconditions.checkNotNull(tokenizer, "tokenizer");
    }

    /** How responses are sampled (default: temperature 1, 32 new tokens, stop at EOS). */
    public Builder sampling(SamplingConfig v) {
      this.sampling = Preconditions.checkNotNull(v, "sampling");
      return this;
    }

    /** Sequences generated at once (default 32). */
    public Builder batchSize(int v) {
      Preconditions.checkArgument(v >= 1, "batchSize must be at least 1, got %s", v);
      this.batchSize = v;
      return this;
    }

    /** Whether prompts start with the BOS token (default true, as in SFT and PPO). */
    public Builder addBos(boolean v) {
      this.addBos = v;
      return this;
    }

    /** The sampler. */
    public BestOfNSampler build() {
      if (sampling == null) {
        sampling = SamplingConfig.builder().temperature(1.0).maxNewTokens(32).stopTokens(tokenizer.eosId()).build();
      }
      return new BestOfNSampler(this);
    }
  }
}
