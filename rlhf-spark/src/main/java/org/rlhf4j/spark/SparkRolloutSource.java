package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.ppo.Rollout;
import org.rlhf4j.ppo.RolloutCollector;
import org.rlhf4j.ppo.RolloutSource;
import org.rlhf4j.reward.TransformerRewardModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link RolloutSource} that rolls a step's prompt groups out on Spark executors, for GRPO / RLOO
 * ({@code GrpoTrainer.Builder.rolloutSource}) and PPO ({@code PpoTrainer.Builder.rolloutSource}).
 * Each call broadcasts the policy's current weights as safetensors bytes ({@link ModelBytes}), and
 * PPO's separate critic when it has one (both are trained every step); the reference and the reward
 * model are broadcast once per run (again only if the collector's objects change). Any architecture
 * registered as a {@link org.rlhf4j.core.model.ModelFamily} (GPT-2, Llama / Qwen2 / Mistral) can be broadcast.
 * Executors rebuild each broadcast model once per version (a copy per concurrently running task)
 * and keep it in their JVM-wide cache ({@link ExecutorModels}), sample and score their partition's groups with
 * {@link RolloutCollector#collectSeeded} and the driver's seeds, and send back tokens, log-probs,
 * reference log-probs, KL, scores, the policy's entropies and (for PPO) the values of its value head
 * or of the critic. The driver puts the groups back in order, so a trainer's step
 * equals the in-process {@link RolloutSource#PER_PROMPT} one for the same seed and model threads.
 * Spark retries a failed task; only the successful attempt's results reach the driver, and the
 * driver checks that every group came back exactly once.
 *
 * <p>The reward model must be a {@link TransformerRewardModel} (it is rebuilt from its weights on
 * the executors). Not thread-safe: one trainer uses it. {@link #close()} destroys the broadcasts.
 */
public final class SparkRolloutSource implements RolloutSource, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SparkRolloutSource.class);

  private final JavaSparkContext sc;
  private final String runId;
  private final int partitions;
  private final long maxBroadcastBytes;
  private final TaskHook hook;

  private CausalLm broadcastReference;
  private TransformerRewardModel broadcastReward;
  private Broadcast<byte[]> reference;
  private Broadcast<byte[]> reward;
  private long frozenVersion = -1;
  private Broadcast<byte[]> policy;
  private Broadcast<byte[]> critic; // null: no separate critic
  private long policyVersion = -1;
  private Timings last;
  private boolean closed;

  /**
   * Seconds and bytes of the last {@link #collect}: serialising the models on the driver, the Spark
   * job (broadcast, tasks, results), the executors' model (re)building and rollouts summed over
   * tasks, the bytes broadcast, the models built and the task attempts that returned results.
   */
  public record Timings(double serializeSeconds, double jobSeconds, double executorBuildSeconds,
      double executorRolloutSeconds, long broadcastBytes, int modelsBuilt, int retriedUnits) {}

  private SparkRolloutSource(Builder b) {
    this.sc = b.sc;
    this.runId = b.runId;
    this.partitions = b.partitions;
    this.maxBroadcastBytes = b.maxBroadcastBytes;
    this.hook = b.hook;
  }

  /** A builder for a source running on {@code spark}'s executors. */
  public static Builder builder(SparkSession spark) {
    checkNotNull(spark, "spark");
    return new Builder(JavaSparkContext.fromSparkContext(spark.sparkContext()));
  }

  /** The run id keying this source's models in the executors' caches. */
  public String runId() {
    return runId;
  }

  /** The timings of the last {@link #collect}, or null before the first. */
  public Timings lastTimings() {
    return last;
  }

  @Override
  public Rollout collect(RolloutCollector collector, List<int[]> prompts, int groupSize, long[] seeds) {
    checkState(!closed, "SparkRolloutSource.collect() after close()");
    checkNotNull(collector, "collector");
    checkArgument(groupSize >= 1, "groupSize must be >= 1, got %s", groupSize);
    checkArgument(!prompts.isEmpty() && prompts.size() == seeds.length * groupSize,
        "%s prompts for %s seeds of groups of %s", prompts.size(), seeds.length, groupSize);
    if (!(collector.rewardModel() instanceof TransformerRewardModel rm)) {
      throw new RlhfException("a Spark rollout needs a TransformerRewardModel to broadcast, not a "
          + collector.rewardModel().getClass().getName() + " (score in-process with RolloutSource.PER_PROMPT)");
    }
    long t0 = System.nanoTime();
    long bytes = 0;
    if (collector.reference() != broadcastReference || rm != broadcastReward) {
      ModelBytes.checkSize("reference", collector.reference(), maxBroadcastBytes);
      ModelBytes.checkSize("reward model", rm.model(), maxBroadcastBytes);
      destroy(reference);
      destroy(reward);
      byte[] ref = ModelBytes.of(collector.reference());
      byte[] rew = ModelBytes.of(rm);
      reference = sc.broadcast(ref);
      reward = sc.broadcast(rew);
      bytes += ref.length + rew.length;
      broadcastReference = collector.reference();
      broadcastReward = rm;
      frozenVersion++;
    }
    RolloutWire.Spec spec = RolloutWire.Spec.of(collector);
    ModelBytes.checkSize("policy", collector.policy(), maxBroadcastBytes);
    CausalLm criticModel = spec.values() == RolloutWire.Values.CRITIC ? collector.valueModel().orElseThrow() : null;
    if (criticModel != null) {
      ModelBytes.checkSize("critic", criticModel, maxBroadcastBytes);
    }
    byte[] pol = ModelBytes.of(collector.policy());
    byte[] cri = criticModel == null ? null : ModelBytes.of(criticModel); // trained with the policy: every step
    bytes += pol.length + (cri == null ? 0 : cri.length);
    destroy(policy);
    destroy(critic);
    policy = sc.broadcast(pol);
    critic = cri == null ? null : sc.broadcast(cri);
    policyVersion++;
    long t1 = System.nanoTime();

    List<RolloutWire.Unit> units = new ArrayList<>(seeds.length);
    for (int u = 0; u < seeds.length; u++) {
      int[] p = prompts.get(u * groupSize);
      for (int j = 1; j < groupSize; j++) {
        checkArgument(java.util.Arrays.equals(p, prompts.get(u * groupSize + j)),
            "prompt %s differs from the first of its group %s: a group is one prompt repeated", u * groupSize + j, u);
      }
      units.add(new RolloutWire.Unit(u, p, groupSize, seeds[u]));
    }
    RolloutTask task = new RolloutTask(runId, policy, critic, policyVersion, reference, reward, frozenVersion, spec,
        hook);
    List<RolloutWire.Result> results = sc.parallelize(units, Math.min(partitions, units.size()))
        .mapPartitions(task).collect();
    long t2 = System.nanoTime();

    RolloutWire.Result[] byIndex = new RolloutWire.Result[units.size()];
    int built = 0;
    int retried = 0;
    double buildSeconds = 0;
    double rolloutSeconds = 0;
    for (RolloutWire.Result r : results) {
      if (r.index() < 0 || r.index() >= byIndex.length) {
        throw new RlhfException("an executor returned the rollout of group " + r.index() + "; the step has "
            + byIndex.length);
      }
      if (byIndex[r.index()] != null) {
        throw new RlhfException("group " + r.index() + " of the step came back twice (attempts "
            + byIndex[r.index()].attempt() + " and " + r.attempt() + ")");
      }
      byIndex[r.index()] = r;
      built += r.modelsBuilt();
      retried += r.attempt() > 0 ? 1 : 0;
      buildSeconds += r.buildSeconds();
      rolloutSeconds += r.rolloutSeconds();
    }
    List<Rollout> parts = new ArrayList<>(byIndex.length);
    for (int u = 0; u < byIndex.length; u++) {
      if (byIndex[u] == null) {
        throw new RlhfException("group " + u + " of the step did not come back from the executors");
      }
      parts.add(byIndex[u].toRollout());
    }
    last = new Timings((t1 - t0) / 1e9, (t2 - t1) / 1e9, buildSeconds, rolloutSeconds, bytes, built, retried);
    log.debug("rollout v{} of run {}: {}", policyVersion, runId, last);
    return Rollout.concat(parts, collector.padId());
  }

  private static void destroy(Broadcast<byte[]> b) {
    if (b != null) {
      b.destroy();
    }
  }

  /** Destroys the broadcasts and frees this run's models cached in this JVM. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    destroy(policy);
    destroy(critic);
    destroy(reference);
    destroy(reward);
    ExecutorModels.release(runId);
  }

  /** Runs on an executor: the groups of one partition. */
  private static final class RolloutTask implements FlatMapFunction<Iterator<RolloutWire.Unit>, RolloutWire.Result> {
    private static final long serialVersionUID = 1L;
    private final String runId;
    private final Broadcast<byte[]> policy;
    private final Broadcast<byte[]> critic; // null: none
    private final long policyVersion;
    private final Broadcast<byte[]> reference;
    private final Broadcast<byte[]> reward;
    private final long frozenVersion;
    private final RolloutWire.Spec spec;
    private final TaskHook hook;

    RolloutTask(String runId, Broadcast<byte[]> policy, Broadcast<byte[]> critic, long policyVersion,
        Broadcast<byte[]> reference, Broadcast<byte[]> reward, long frozenVersion, RolloutWire.Spec spec, TaskHook hook) {
      this.runId = runId;
      this.policy = policy;
      this.critic = critic;
      this.policyVersion = policyVersion;
      this.reference = reference;
      this.reward = reward;
      this.frozenVersion = frozenVersion;
      this.spec = spec;
      this.hook = hook;
    }

    @Override
    public Iterator<RolloutWire.Result> call(Iterator<RolloutWire.Unit> units) {
      TaskContext ctx = TaskContext.get();
      int attempt = ctx == null ? 0 : ctx.attemptNumber();
      if (hook != null) {
        hook.beforeTask(ctx == null ? -1 : ctx.partitionId(), attempt);
      }
      List<RolloutWire.Result> out = new ArrayList<>();
      if (!units.hasNext()) {
        return out.iterator();
      }
      long t0 = System.nanoTime();
      try (ExecutorModels.Lease<CausalLm> pol = ExecutorModels.borrow(
              new ExecutorModels.Key(runId, "policy", policyVersion), () -> ModelBytes.toModel(policy.value(), "policy v" + policyVersion));
          ExecutorModels.Lease<CausalLm> cri = critic == null ? null : ExecutorModels.borrow(
              new ExecutorModels.Key(runId, "critic", policyVersion), () -> ModelBytes.toModel(critic.value(), "critic v" + policyVersion));
          ExecutorModels.Lease<CausalLm> ref = ExecutorModels.borrow(
              new ExecutorModels.Key(runId, "reference", frozenVersion), () -> ModelBytes.toModel(reference.value(), "reference"));
          ExecutorModels.Lease<TransformerRewardModel> rew = ExecutorModels.borrow(
              new ExecutorModels.Key(runId, "reward", frozenVersion), () -> ModelBytes.toRewardModel(reward.value(), "reward model"))) {
        int built = (pol.built() ? 1 : 0) + (cri != null && cri.built() ? 1 : 0) + (ref.built() ? 1 : 0)
            + (rew.built() ? 1 : 0);
        double buildSeconds = (System.nanoTime() - t0) / 1e9;
        RolloutCollector.Builder cb = RolloutCollector.builder().policy(pol.get()).reference(ref.get())
            .rewardModel(rew.get()).tokenizer(new SpecialIds(spec.padId(), spec.stopToken())).sampling(spec.sampling())
            .temperature(spec.logProbTemperature()).klEstimator(spec.estimator());
        switch (spec.values()) {
          case POLICY -> cb.values(pol.get()); // the policy's value head, from the same forward pass
          case CRITIC -> cb.values(cri.get());
          case NONE -> { }
        }
        RolloutCollector c = cb.build();
        boolean first = true;
        while (units.hasNext()) {
          RolloutWire.Unit u = units.next();
          long s = System.nanoTime();
          Rollout r = c.collectSeeded(u.prompts(), u.groupSize(), new long[] {u.seed()});
          out.add(RolloutWire.Result.of(u.index(), r, first ? built : 0, first ? buildSeconds : 0,
              (System.nanoTime() - s) / 1e9, attempt));
          first = false;
        }
      }
      return out.iterator();
    }
  }

  /**
   * The padding and stop ids a collector takes from its tokenizer; the executors only see token ids
   * (prompts are encoded on the driver, a {@link TransformerRewardModel} scores ids).
   */
  private record SpecialIds(int padId, int eosId) implements org.rlhf4j.core.tokenizer.Tokenizer {
    @Override
    public int[] encode(String text) {
      throw new UnsupportedOperationException("executors roll out encoded prompts");
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
      throw new UnsupportedOperationException("executors roll out encoded prompts");
    }

    @Override
    public int vocabSize() {
      return Math.max(padId, eosId) + 1;
    }

    @Override
    public int bosId() {
      return eosId;
    }

    @Override
    public boolean isSpecial(int id) {
      return id == padId || id == eosId;
    }

    @Override
    public String describe() {
      return "token ids only (pad " + padId + ", eos " + eosId + ")";
    }
  }

  /** Builds a {@link SparkRolloutSource}. */
  public static final class Builder {
    private final JavaSparkContext sc;
    private String runId = UUID.randomUUID().toString();
    private int partitions;
    private long maxBroadcastBytes = ModelBytes.DEFAULT_MAX_BYTES;
    private TaskHook hook;

    private Builder(JavaSparkContext sc) {
      this.sc = sc;
      this.partitions = sc.defaultParallelism();
    }

    /** Partitions (tasks) per step, at most one per prompt group; default: Spark's default parallelism. */
    public Builder partitions(int v) {
      checkArgument(v >= 1, "partitions must be >= 1, got %s", v);
      this.partitions = v;
      return this;
    }

    /**
     * The largest model (its parameters' bytes) broadcast; a larger one is refused with its size.
     * Default {@link ModelBytes#DEFAULT_MAX_BYTES} (a broadcast is one Java array).
     */
    public Builder maxBroadcastBytes(long v) {
      checkArgument(v >= 1 && v <= ModelBytes.DEFAULT_MAX_BYTES, "maxBroadcastBytes must be in [1, %s], got %s",
          ModelBytes.DEFAULT_MAX_BYTES, v);
      this.maxBroadcastBytes = v;
      return this;
    }

    /** The id keying this run's models in the executors' caches (default: a random UUID). */
    public Builder runId(String v) {
      checkArgument(v != null && !v.isBlank(), "runId must not be blank");
      this.runId = v;
      return this;
    }

    Builder taskHook(TaskHook v) {
      this.hook = checkNotNull(v, "hook");
      return this;
    }

    /** The source. */
    public SparkRolloutSource build() {
      return new SparkRolloutSource(this);
    }
  }
}
