package org.rlhf4j.core.model.gpt2;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.Initializer;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tensor.CpuBackend;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.PointwiseKernels;
import org.rlhf4j.core.tensor.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A GPT-2-architecture {@link CausalLm} with hand-written forward and backward passes over ND4J (see
 * {@link GptConfig}; its parameter table is {@link GptConfig#parameterTable()}). Parameters live in
 * one flat buffer ({@link #parameters()}), their gradients in another ({@link #gradients()}); {@link
 * ForwardPass#backward} adds to the gradients, so losses and micro-batches accumulate until {@link
 * #zeroGradients()}.
 *
 * <p>A batch is split into {@code min(threads, B)} shards computed in parallel, each with its own
 * preallocated activations; the shards add their gradients of the blocks' weight matrices into the
 * model's in shard order ({@link MatrixGradientTurns}) and sum the rest after the pass in the same
 * order, so results are deterministic for a given thread count. A model is not thread-safe: one pass
 * at a time, and a new {@link #forward} invalidates the previous pass (a decode session's prefill is such a pass,
 * taken under the model's pass lock, so sessions may be prefilled from several threads at once).
 * Close the model to free its native memory.
 */
public final class GptModel implements CausalLm {
  /** The {@link #architecture()} name. */
  public static final String ARCHITECTURE = "gpt2";

  private final GptConfig config;
  private final ModelOptions options;
  private final FlatTensors params;
  private final FlatTensors grads;
  private final Weights weights;
  private final Weights gradWeights;
  private final ShardMath math;
  /** The parameters other than the blocks' weight matrices, in layout order. */
  private final ImmutableList<ParameterLayout.Entry> besideMatrices;
  private org.rlhf4j.core.model.LinearAdapters adapters; // LoRA, or null
  private final List<Shard> shards = new ArrayList<>();
  private long passId;
  /**
   * Held by a pass over the model's own activation buffers ({@link #forward}) and by a decode
   * session's prefill, which runs such a pass and then copies from those buffers: sessions of one
   * model may be prefilled from several threads at once.
   */
  final Object passLock = new Object();
  private boolean closed;

  /**
   * The per-shard state: activations, and (for shards after the first) private gradients, of which the
   * blocks' weight matrices stay zero (the shards add those into the model's directly).
   */
  static final class Shard {
    final ShardWorkspace ws;
    final FlatTensors grads; // null for shard 0, which writes the model's gradients directly
    final Weights gradWeights;
    /** Whether {@code grads} are all zero: cleared when they were summed into the model's, so a pass need not zero them. */
    boolean gradsClear = true;

    Shard(ShardWorkspace ws, FlatTensors grads, Weights gradWeights) {
      this.ws = ws;
      this.grads = grads;
      this.gradWeights = gradWeights;
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(GptModel.class);

  static {
    CpuBackend.configure(); // before ND4J loads OpenBLAS, where this is the first use of ND4J
  }
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  private GptModel(GptConfig config, ModelOptions options, FlatTensors params) {
    if (options.threads() > 1 && Nd4j.getEnvironment().maxMasterThreads() > 1 && !WARNED.getAndSet(true)) {
      LOG.warn(
          "ND4J runs {} OpenMP threads per operation while rlhf4j splits batches over {} threads of its own; set"
              + " OMP_NUM_THREADS=1 (or call Nd4j.getEnvironment().setMaxMasterThreads(1) at start-up) for full speed",
          Nd4j.getEnvironment().maxMasterThreads(),
          options.threads());
    }
    this.config = config;
    this.options = options;
    this.params = params;
    this.grads = FlatTensors.zeros(params.layout(), options.dataType());
    this.weights = new Weights(params, config);
    this.gradWeights = new Weights(grads, config);
    this.math = new ShardMath(config, options.dataType());
    java.util.Set<String> matrices = new java.util.HashSet<>();
    for (int l = 0; l < config.layers(); l++) {
      List<org.rlhf4j.core.model.ParameterSpec> table = config.blockTable(l);
      for (int k : MatrixGradientTurns.MATRICES) {
        matrices.add(table.get(k).name());
      }
    }
    this.besideMatrices = params.layout().entries().stream().filter(e -> !matrices.contains(e.name())).collect(ImmutableList.toImmutableList());
  }

  Weights gradWeights() {
    return gradWeights;
  }

  /** A model with GPT-2's random initialisation from {@code seed}, FLOAT, default threads. */
  public static GptModel randomInit(GptConfig config, long seed) {
    return randomInit(config, seed, ModelOptions.defaults());
  }

  /** A model with GPT-2's random initialisation from {@code seed}. */
  public static GptModel randomInit(GptConfig config, long seed, ModelOptions options) {
    FlatTensors p = FlatTensors.zeros(config.layout(), options.dataType());
    Initializer.initialize(p, seed);
    return new GptModel(config, options, p);
  }

  /**
   * A model whose parameters are all zero, to be filled by a loader through {@link #parameters()}.
   */
  public static GptModel uninitialized(GptConfig config, ModelOptions options) {
    return new GptModel(config, options, FlatTensors.zeros(config.layout(), options.dataType()));
  }

  @Override
  public GptModel copy(ModelOptions newOptions) {
    checkOpen();
    GptModel m = uninitialized(config, newOptions);
    if (newOptions.dataType() == options.dataType()) {
      m.params.copyFrom(params);
    } else {
      m.params.flat().array().assign(params.flat().array().castTo(newOptions.dataType()));
    }
    return m;
  }

  /**
   * A copy of this model with a freshly initialised scalar head (weights N(0, 1/sqrt(d+1)), bias 0,
   * from {@code seed}), e.g. a reward model or critic initialised from a policy. An existing head is
   * re-initialised.
   */
  @Override
  public GptModel withNewScalarHead(long seed) {
    checkOpen();
    GptConfig headed = config.toBuilder().scalarHead(true).build();
    GptModel m = uninitialized(headed, options);
    ParameterLayout layout = m.params.layout();
    for (ParameterLayout.Entry e : params.layout().entries()) {
      if (!isScalarHead(e.name())) {
        m.params.get(e.name()).array().assign(params.get(e.name()).array());
      }
    }
    SplittableRandom rng = new SplittableRandom(seed);
    Initializer.fill(m.params, layout.spec(GptConfig.SCALAR_HEAD_WEIGHT), rng);
    Initializer.fill(m.params, layout.spec(GptConfig.SCALAR_HEAD_BIAS), rng);
    return m;
  }

  /**
   * A copy of this model with a zero-initialised scalar head, for use as PPO's value head (the
   * initialisation of lm-human-preferences: every value starts at 0, so the first advantages are
   * the returns themselves rather than the noise of a random head). An existing head is replaced.
   * Reward heads keep {@link #withNewScalarHead(long)}'s random initialisation.
   */
  @Override
  public GptModel withNewValueHead() {
    GptModel m = withNewScalarHead(0);
    m.params.get(GptConfig.SCALAR_HEAD_WEIGHT).array().assign(0);
    return m;
  }

  private static boolean isScalarHead(String name) {
    return name.equals(GptConfig.SCALAR_HEAD_WEIGHT) || name.equals(GptConfig.SCALAR_HEAD_BIAS);
  }

  /** The architecture. */
  public GptConfig config() {
    return config;
  }

  @Override
  public String architecture() {
    return ARCHITECTURE;
  }

  /** {@link GptConfig#toMap()}. */
  @Override
  public Map<String, Object> configMap() {
    return config.toMap();
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int contextLength() {
    return config.contextLength();
  }

  @Override
  public int width() {
    return config.dModel();
  }

  @Override
  public boolean hasScalarHead() {
    return config.scalarHead();
  }

  @Override
  public ModelOptions options() {
    return options;
  }

  @Override
  public long activationBytes(long batch, long length) {
    return GptMemory.activationBytes(config, options.dataType(), batch, length, options.threads());
  }

  @Override
  public long decodeCacheBytes(long batch, long capacity) {
    return GptMemory.decodeCacheBytes(config, options.dataType(), batch, capacity);
  }

  @Override
  public FlatTensors parameters() {
    checkOpen();
    return params;
  }

  @Override
  public FlatTensors gradients() {
    checkOpen();
    return grads;
  }

  @Override
  public void zeroGradients() {
    checkOpen();
    Tensor f = grads.flat();
    int parts = flatParts(f.length());
    Parallel.forEach(parts, p -> f.rows(partStart(f.length(), parts, p), partStart(f.length(), parts, p + 1)).zero());
    if (adapters != null) {
      adapters.zeroGradients();
    }
  }

  /**
   * All parameters as one optimiser group; with adapters attached on a frozen base (LoRA), the
   * adapters' tensors alone, so that every trainer trains just them.
   */
  @Override
  public org.rlhf4j.core.model.Trainable trainable() {
    checkOpen();
    if (adapters != null && adapters.freezesBase()) {
      return adapters.trainable(options.threads());
    }
    return new org.rlhf4j.core.model.Trainable(toString(), params, grads, options.threads());
  }

  /**
   * Attaches adapters to this model's Conv1D layers (e.g. {@code LoraLayers} of a LoRA adapter,
   * module names {@code transformer.h.N.attn.c_attn}, ...), or detaches them with {@code null}. An
   * earlier pass becomes stale.
   */
  public void setAdapters(org.rlhf4j.core.model.LinearAdapters a) {
    checkOpen();
    this.adapters = a;
    passId++;
  }

  /** The attached adapters, or null. */
  public org.rlhf4j.core.model.LinearAdapters adapters() {
    return adapters;
  }

  @Override
  public ForwardPass forward(TokenBatch batch) {
    checkOpen();
    validate(batch);
    int b = batch.batchSize();
    int t = batch.length();
    int shardCount = Math.min(options.threads(), b);
    synchronized (passLock) {
      ensureShards(shardCount);
      long id = ++passId;
      int[] bounds = shardBounds(b, shardCount);
      Parallel.forEach(
          shardCount,
          s -> {
            ShardWorkspace ws = shards.get(s).ws;
            ws.ensure(bounds[s + 1] - bounds[s], t, intraShardWays(options.threads(), shardCount, s));
            ws.adapters = adapters == null ? null : adapters.forShard(s);
            batch.copyRows(bounds[s], bounds[s + 1], ws.ids, ws.keyMask, ws.positions);
            math.forward(ws, weights);
          });
      return new GptForwardPass(this, id, batch, bounds);
    }
  }

  @Override
  public DecodeSession newDecodeSession(int batch, int capacity) {
    checkOpen();
    return new GptDecodeSession(this, batch, capacity);
  }

  private void validate(TokenBatch batch) {
    int v = config.vocabSize();
    if (batch.length() > config.contextLength()) {
      throw new RlhfException(
          "sequence length " + batch.length() + " exceeds the model's context length " + config.contextLength());
    }
    for (int b = 0; b < batch.batchSize(); b++) {
      for (int t = 0; t < batch.length(); t++) {
        int id = batch.id(b, t);
        if (id < 0 || id >= v) {
          throw new RlhfException(
              "token id " + id + " at batch row " + b + ", position " + t + " is outside the vocabulary [0, " + v + ")");
        }
      }
    }
  }

  private void ensureShards(int count) {
    while (shards.size() < count) {
      boolean first = shards.isEmpty();
      FlatTensors g = first ? null : FlatTensors.zeros(params.layout(), options.dataType());
      shards.add(new Shard(new ShardWorkspace(config, options.dataType()), g, first ? gradWeights : new Weights(g, config)));
    }
  }

  /**
   * Threads shard {@code s} of {@code count} may use inside its products when there are more threads
   * than shards (fewer batch rows than threads): the spare threads are dealt out in shard order.
   */
  static int intraShardWays(int threads, int count, int s) {
    return threads / count + (s < threads % count ? 1 : 0);
  }

  private static int[] shardBounds(int b, int count) {
    int[] bounds = new int[count + 1];
    for (int s = 0; s <= count; s++) {
      bounds[s] = (int) ((long) s * b / count);
    }
    return bounds;
  }

  // --- package-private access for GptForwardPass and GptDecodeSession

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the model " + config + " has been closed (its native memory was freed)");
    }
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  void checkCurrent(long id) {
    checkOpen();
    if (id != passId) {
      throw new IllegalStateException("this forward pass is stale: the model has run another forward pass since");
    }
  }

  Shard shard(int s) {
    return shards.get(s);
  }

  ShardMath math() {
    return math;
  }

  Weights weights() {
    return weights;
  }

  /**
   * Adds the private gradients of shards 1.. to the model's gradients, in shard order, over the
   * model's threads in contiguous parts, and clears them: all but the blocks' weight matrices, which
   * the shards added into the model's gradients themselves, in turn ({@link MatrixGradientTurns}), and
   * whose private copies stay zero. Each element gets the same additions in the same order however the
   * buffers are cut, so the result does not depend on the cut.
   */
  void reduceShardGradients(int shardCount) {
    if (shardCount <= 1) {
      return;
    }
    PointwiseKernels pw = PointwiseKernels.of(options.dataType());
    for (ParameterLayout.Entry e : besideMatrices) {
      int n = Math.toIntExact(e.size());
      int parts = flatParts(n);
      Parallel.forEach(
          parts,
          p -> {
            long from = e.offset() + partStart(n, parts, p);
            long to = e.offset() + partStart(n, parts, p + 1);
            Tensor dst = grads.flat().rows(from, to);
            for (int s = 1; s < shardCount; s++) {
              pw.addAndClear(dst, shards.get(s).grads.flat().rows(from, to), (int) (to - from));
            }
          });
    }
    for (int s = 1; s < shardCount; s++) {
      shards.get(s).gradsClear = true;
    }
  }

  /** Parts of at least this many elements when the flat gradient buffers are zeroed or summed over threads. */
  private static final int MIN_FLAT_PART = 1 << 16;

  private int flatParts(int n) {
    return Math.max(1, Math.min(options.threads(), n / MIN_FLAT_PART));
  }

  private static int partStart(int n, int parts, int p) {
    return (int) ((long) n * p / parts);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Shard s : shards) {
      s.ws.close();
      if (s.grads != null) {
        s.grads.close();
      }
    }
    shards.clear();
    grads.close();
    params.close();
  }

  @Override
  public String toString() {
    return "GptModel" + config + " " + options.dataType();
  }
}
