package org.rlhf4j.ppo.loop;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.generate.Generation;
import org.rlhf4j.core.generate.Generator;
import org.rlhf4j.core.generate.SamplingConfig;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Permutations;
import org.rlhf4j.core.train.TrainingListener;
import org.rlhf4j.reward.TransformerRewardModel;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.feedback.ComparisonStore;
import org.rlhf4j.reward.feedback.LabelRequest;
import org.rlhf4j.reward.feedback.LabelResult;
import org.rlhf4j.reward.feedback.Labeller;
import org.rlhf4j.reward.feedback.StoredComparison;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Steps 2 and 3 of the recipe, repeated as new comparisons arrive. Each round: sample K responses per
 * prompt from the current policy, ask the {@link Labeller} to rank them, store the rankings durably,
 * then let the {@link PolicyOptimizer} improve the policy from all comparisons so far: by default
 * {@link RewardModelPpo} (update the reward model, continuing from its current weights, then run PPO
 * steps against it with the KL penalty to the frozen SFT model), or {@link DpoPolicyOptimizer} (DPO
 * on the rankings, no reward model) given with {@link Builder#optimizer}. After each round the
 * optimiser's state and the round counter are checkpointed; a loop built again over the same
 * checkpoint directory and store continues with the next round (items of an interrupted round that
 * were already ranked are not asked again).
 */
public final class RlhfLoop implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Logger LOG = LoggerFactory.getLogger(RlhfLoop.class);
  private static final String STATE = "loop_state.json";

  private final RlhfLoopConfig config;
  private final PolicyOptimizer optimizer;
  private final Tokenizer tokenizer;
  private final ImmutableList<String> prompts;
  private final Labeller labeller;
  private final ComparisonStore store;
  private final Path checkpointDir;
  private final ImmutableList<Ranking> heldOut;
  private final TrainingListener listener;
  private int completedRounds;

  private RlhfLoop(Builder b, PolicyOptimizer optimizer) {
    this.config = b.config;
    this.optimizer = optimizer;
    this.tokenizer = b.tokenizer;
    this.prompts = ImmutableList.copyOf(b.prompts);
    this.labeller = b.labeller;
    this.store = b.store;
    this.checkpointDir = b.checkpointDir;
    this.heldOut = ImmutableList.copyOf(b.heldOut);
    this.listener = Listeners.of(b.listeners);
    if (checkpointDir != null && Files.exists(checkpointDir.resolve(STATE))) {
      restore();
    }
  }

  /** A builder for a loop with {@code config}. */
  public static Builder builder(RlhfLoopConfig config) {
    return new Builder(config);
  }

  /** Runs the remaining rounds and returns their reports. */
  public List<RoundReport> run() {
    List<RoundReport> out = new ArrayList<>();
    while (completedRounds < config.rounds()) {
      out.add(runRound());
    }
    return out;
  }

  /** Runs the next round. */
  public RoundReport runRound() {
    int round = completedRounds;
    SplittableRandom rng = new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L + round);
    // 1. sample K responses per prompt from the current policy
    List<LabelRequest> requests = sample(round, rng);
    // 2. ask the labeller about the items not already stored, and store the rankings
    List<LabelRequest> pending = requests.stream().filter(r -> !store.contains(r.itemId())).toList();
    List<LabelResult> results = pending.isEmpty() ? List.of() : labeller.labelAll(pending);
    int ranked = 0;
    int skipped = 0;
    for (int i = 0; i < pending.size(); i++) {
      LabelResult res = results.get(i);
      if (res.isSkip()) {
        skipped++;
      } else {
        ranked++;
        if (!store.contains(res.itemId())) {
          store.append(pending.get(i), res);
        }
      }
    }
    // 3. improve the policy from every comparison so far
    List<Ranking> all = trainingRankings();
    PolicyUpdate update = PolicyUpdate.none();
    if (all.isEmpty()) {
      LOG.warn("round {}: no usable comparisons yet; the policy is left as it is", round);
    } else {
      update = optimizer.improve(all, heldOut, listener);
    }
    completedRounds = round + 1;
    checkpoint(round);
    return new RoundReport(round, pending.size(), ranked, skipped, store.size(), update);
  }

  /**
   * The stored comparisons as rankings for the reward model. A response that cannot be a training
   * record is dropped from its comparison: one that decodes to blank text (a model may answer with
   * whitespace) or that no longer fits the context once its text is encoded again (undecodable bytes
   * come back as longer replacement characters). A comparison left with fewer than two responses is
   * not used.
   */
  private List<Ranking> trainingRankings() {
    List<Ranking> out = new ArrayList<>();
    String source = store.file().getFileName().toString();
    PolicyOptimizer.SequenceLimits limits = optimizer.limits();
    int dropped = 0;
    for (StoredComparison c : store.records()) {
      int head = tokenizer.encodePrompt(c.prompt(), limits.addBos()).length + (limits.appendEos() ? 1 : 0);
      List<Integer> keep = c.order().stream()
          .filter(i -> !c.responses().get(i).isBlank() && head + tokenizer.encode(c.responses().get(i)).length <= limits.maxLength())
          .toList();
      dropped += c.order().size() - keep.size();
      if (keep.size() < 2) {
        continue;
      }
      List<String> responses = new ArrayList<>();
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < keep.size(); i++) {
        responses.add(c.responses().get(keep.get(i)));
        order.add(i);
      }
      out.add(Ranking.of(source, c.sequence(), c.prompt(), responses, order).withLabeller(c.labeller()));
    }
    if (dropped > 0) {
      LOG.info("{} of the stored responses are blank or too long for the policy optimiser and are left out of its training", dropped);
    }
    return out;
  }

  private List<LabelRequest> sample(int round, SplittableRandom rng) {
    int[] perm = Permutations.random(prompts.size(), rng);
    List<String> chosen = new ArrayList<>();
    List<int[]> encoded = new ArrayList<>();
    for (int i = 0; i < config.promptsPerRound(); i++) {
      String p = prompts.get(perm[i % perm.length]);
      chosen.add(p);
      int[] ids = tokenizer.encodePrompt(p, config.ppo().addBos());
      for (int j = 0; j < config.k(); j++) {
        encoded.add(ids);
      }
    }
    // at least one token per response, so that no labeller is shown an empty answer
    SamplingConfig sampling = config.ppo().sampling(tokenizer.eosId()).toBuilder().minNewTokens(1).build();
    Generation g = Generator.generate(optimizer.policy(), TokenBatch.leftPadded(encoded, tokenizer.padId()), sampling, rng, tokenizer.padId());
    List<LabelRequest> out = new ArrayList<>();
    for (int i = 0; i < chosen.size(); i++) {
      List<String> responses = new ArrayList<>();
      for (int j = 0; j < config.k(); j++) {
        responses.add(tokenizer.decode(g.response(i * config.k() + j)));
      }
      out.add(LabelRequest.of("r" + round + "-p" + i, chosen.get(i), responses, round, "round-" + round));
    }
    return out;
  }

  private void checkpoint(int round) {
    if (checkpointDir == null) {
      return;
    }
    Path dir = checkpointDir.resolve("round-" + round);
    try {
      optimizer.save(dir);
      Map<String, Object> state = new LinkedHashMap<>();
      state.put("completed_rounds", completedRounds);
      state.put("comparisons", store.size());
      state.put("config", config.toMap());
      AtomicFiles.writeString(checkpointDir.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
      if (round >= 2) {
        deleteTree(checkpointDir.resolve("round-" + (round - 2)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot checkpoint round " + round + " to " + checkpointDir, e);
    }
  }

  private void restore() {
    Path stateFile = checkpointDir.resolve(STATE);
    try {
      JsonNode state = JSON.readTree(stateFile.toFile());
      int done = state.get("completed_rounds").asInt();
      optimizer.restore(checkpointDir.resolve("round-" + (done - 1)));
      completedRounds = done;
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(stateFile + ": cannot resume the loop: " + e.getMessage(), e);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** Rounds completed so far (including those restored from a checkpoint). */
  public int completedRounds() {
    return completedRounds;
  }

  /** The policy being trained. */
  public CausalLm policy() {
    return optimizer.policy();
  }

  /** What improves the policy each round. */
  public PolicyOptimizer optimizer() {
    return optimizer;
  }

  /** Closes the policy optimiser (the models stay the caller's). */
  @Override
  public void close() {
    optimizer.close();
  }

  /** Builds an {@link RlhfLoop}. */
  public static final class Builder {
    private final RlhfLoopConfig config;
    private CausalLm reference;
    private CausalLm policy;
    private TransformerRewardModel rewardModel;
    private Tokenizer tokenizer;
    private List<String> prompts = List.of();
    private Labeller labeller;
    private ComparisonStore store;
    private Path checkpointDir;
    private List<Ranking> heldOut = List.of();
    private final List<TrainingListener> listeners = new ArrayList<>();
    private PolicyOptimizer optimizer;

    private Builder(RlhfLoopConfig config) {
      this.config = config;
    }

    /**
     * What improves the policy each round, e.g. {@link DpoPolicyOptimizer} (the loop closes it); then
     * reference, policy and reward model are not given. Default: {@link RewardModelPpo} over the
     * given reference, policy and reward model with the configuration's reward, PPO and steps settings.
     */
    public Builder optimizer(PolicyOptimizer o) {
      optimizer = o;
      return this;
    }

    /** The frozen SFT model (KL reference). */
    public Builder reference(CausalLm m) {
      reference = m;
      return this;
    }

    /** The policy to improve (with a value head). */
    public Builder policy(CausalLm m) {
      policy = m;
      return this;
    }

    /** The reward model, updated in place each round. */
    public Builder rewardModel(TransformerRewardModel rm) {
      rewardModel = rm;
      return this;
    }

    /** The tokenizer of the policy, the reward model and the prompts. */
    public Builder tokenizer(Tokenizer t) {
      tokenizer = t;
      return this;
    }

    /** The prompt pool. */
    public Builder prompts(List<String> p) {
      prompts = List.copyOf(p);
      return this;
    }

    /** Who ranks the samples: people through a user interface, or a program. */
    public Builder labeller(Labeller l) {
      labeller = l;
      return this;
    }

    /** Where rankings are kept (and read back on restart). */
    public Builder store(ComparisonStore s) {
      store = s;
      return this;
    }

    /** Where each round's state is checkpointed and resumed from (optional). */
    public Builder checkpointDir(Path d) {
      checkpointDir = d;
      return this;
    }

    /** Rankings kept out of training, to measure the reward model each round (optional). */
    public Builder heldOut(List<Ranking> r) {
      heldOut = List.copyOf(r);
      return this;
    }

    /** Adds a listener for the reward-model and PPO steps of every round. */
    public Builder listener(TrainingListener l) {
      listeners.add(l);
      return this;
    }

    /** The loop; {@link IllegalArgumentException} names what is missing. */
    public RlhfLoop build() {
      checkArgument(tokenizer != null, "tokenizer must be set");
      checkArgument(!prompts.isEmpty(), "prompts must not be empty");
      checkArgument(labeller != null, "labeller must be set");
      checkArgument(store != null, "store must be set");
      if (optimizer != null) {
        checkArgument(reference == null && policy == null && rewardModel == null,
            "give either an optimizer or reference, policy and reward model (they are the optimizer's)");
        return new RlhfLoop(this, optimizer);
      }
      checkArgument(reference != null, "reference must be set");
      checkArgument(policy != null, "policy must be set");
      checkArgument(rewardModel != null, "rewardModel must be set");
      RewardModelPpo rmPpo = RewardModelPpo.builder()
          .rewardConfig(config.reward())
          .ppoConfig(config.ppo())
          .ppoStepsPerRound(config.ppoStepsPerRound())
          .policy(policy)
          .reference(reference)
          .rewardModel(rewardModel)
          .tokenizer(tokenizer)
          .prompts(prompts)
          .build();
      return new RlhfLoop(this, rmPpo);
    }
  }
}
