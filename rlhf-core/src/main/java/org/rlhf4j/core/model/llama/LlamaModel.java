package org.rlhf4j.core.model.llama;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.Initializer;
import org.rlhf4j.core.model.LinearAdapters;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tensor.CpuBackend;

/**
 * A Llama-family causal language model (Llama, Qwen2, Mistral; see {@link LlamaConfig}) with
 * hand-written forward and backward passes over ND4J. Parameters live in one flat buffer with
 * Hugging Face's tensor names ({@link #parameters()}, laid out by {@link LlamaLayout}), gradients in
 * another ({@link #gradients()}); {@link LlamaForwardPass#backward} adds to the gradients, so losses
 * and micro-batches accumulate until {@link #zeroGradients()}.
 *
 * <p>Padding may be on either side: positions are counted over real tokens only (a left-padded row
 * gets the positions of the same row unpadded, as Hugging Face's {@code position_ids} in generation),
 * and padded keys are masked. The whole batch is one workspace; matrix products use {@code
 * options.threads()} threads. Not thread-safe: one pass at a time, and a new {@link #forward}
 * invalidates the previous pass. Close the model to free its native memory.
 */
public final class LlamaModel implements CausalLm {
  /** The {@link #architecture()} of every Llama-family model (the family is in {@link #configMap()}). */
  public static final String ARCHITECTURE = "llama";

  static {
    CpuBackend.configure(); // before ND4J loads OpenBLAS, where this is the first use of ND4J
  }

  private final LlamaConfig config;
  private final ModelOptions options;
  private final FlatTensors params;
  private FlatTensors grads; // allocated on first use: a model trained through LoRA adapters never needs it
  private final LlamaWeights weights;
  private LlamaWeights gradWeights;
  private final LlamaMath math;
  private final LlamaWorkspace ws;
  private long passId;
  /**
   * Held by a pass over the model's own activation buffers ({@link #forward}) and by a decode
   * session's prefill, which runs such a pass and then copies from those buffers: sessions of one
   * model may be prefilled from several threads at once.
   */
  final Object passLock = new Object();
  private boolean closed;

  private LlamaModel(LlamaConfig config, ModelOptions options, FlatTensors params) {
    this.config = config;
    this.options = options;
    this.params = params;
    this.weights = new LlamaWeights(params, config);
    this.math = new LlamaMath(config, options.dataType());
    this.ws = new LlamaWorkspace(config, options.dataType());
  }

  /**
   * A model with transformers' initialisation from {@code seed}: embeddings and matrices N(0, 0.02)
   * ({@code initializer_range}), norm gains 1, biases 0, a scalar head N(0, 1/sqrt(d+1)).
   */
  public static LlamaModel randomInit(LlamaConfig config, long seed, ModelOptions options) {
    return randomInit(config, seed, 0.02, options);
  }

  /** As {@link #randomInit(LlamaConfig, long, ModelOptions)} with matrices N(0, {@code std}). */
  public static LlamaModel randomInit(LlamaConfig config, long seed, double std, ModelOptions options) {
    checkNotNull(config, "config");
    checkNotNull(options, "options");
    FlatTensors p = FlatTensors.zeros(ParameterLayout.of(LlamaLayout.table(config, std)), options.dataType());
    Initializer.initialize(p, seed);
    return new LlamaModel(config, options, p);
  }

  /**
   * Loads an rlhf4j checkpoint of a Llama-family model (written by {@link
   * org.rlhf4j.core.io.ModelCheckpoint#save} with {@code architecture: llama}).
   */
  public static LlamaModel fromCheckpoint(Path dir, ModelOptions options) {
    Path meta = dir.resolve("rlhf4j.json");
    Map<String, Object> m;
    try {
      m = new ObjectMapper().readValue(meta.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(meta + ": cannot read: " + e.getMessage(), e);
    }
    Object model = m.get("model");
    if (!ARCHITECTURE.equals(m.get("architecture")) || !(model instanceof Map<?, ?>)) {
      throw new CheckpointException(meta + ": field \"architecture\": " + m.get("architecture") + " is not a Llama-family checkpoint (expected \"llama\" and a \"model\" object)");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> cm = (Map<String, Object>) model;
    LlamaConfig config;
    try {
      config = LlamaConfig.fromMap(cm, meta.toString());
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(e.getMessage(), e);
    }
    LlamaModel out = uninitialized(config, options);
    try {
      ModelCheckpoint.loadInto(dir, out);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
    return out;
  }

  /** A model whose parameters are all zero, to be filled by a loader through {@link #parameters()}. */
  public static LlamaModel uninitialized(LlamaConfig config, ModelOptions options) {
    checkNotNull(config, "config");
    checkNotNull(options, "options");
    return new LlamaModel(config, options, FlatTensors.zeros(LlamaLayout.of(config), options.dataType()));
  }

  /** A deep copy (parameters only; gradients start at zero) with the given options. */
  @Override
  public LlamaModel copy(ModelOptions newOptions) {
    checkOpen();
    LlamaModel m = uninitialized(config, newOptions);
    m.params.flat().array().assign(params.flat().array().castTo(newOptions.dataType()));
    return m;
  }

  /**
   * A copy of this model with a freshly initialised scalar head (weights N(0, 1/sqrt(d+1)), bias 0,
   * from {@code seed}), e.g. a reward model or critic initialised from a policy.
   */
  @Override
  public LlamaModel withNewScalarHead(long seed) {
    checkOpen();
    LlamaModel m = uninitialized(config.toBuilder().scalarHead(true).build(), options);
    for (ParameterLayout.Entry e : params.layout().entries()) {
      if (!e.name().startsWith("scalar_head.")) {
        m.params.get(e.name()).array().assign(params.get(e.name()).array());
      }
    }
    SplittableRandom rng = new SplittableRandom(seed);
    INDArray w = m.params.get(LlamaLayout.SCALAR_W).array();
    double std = 1.0 / Math.sqrt(config.hiddenSize() + 1.0);
    for (long i = 0; i < w.length(); i++) {
      w.putScalar(i, rng.nextGaussian() * std);
    }
    m.params.get(LlamaLayout.SCALAR_B).array().assign(0);
    return m;
  }

  /** A copy of this model with a zero scalar head (PPO's value head). */
  @Override
  public LlamaModel withNewValueHead() {
    LlamaModel m = withNewScalarHead(0);
    m.params.get(LlamaLayout.SCALAR_W).array().assign(0);
    return m;
  }

  /** The architecture. */
  public LlamaConfig config() {
    return config;
  }

  @Override
  public String architecture() {
    return ARCHITECTURE;
  }

  /** {@link LlamaConfig#toMap()}. */
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
    return config.hiddenSize();
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
    return LlamaMemory.activationBytes(config, options.dataType(), batch, length, options.threads());
  }

  @Override
  public long decodeCacheBytes(long batch, long capacity) {
    return LlamaMemory.decodeCacheBytes(config, options.dataType(), batch, capacity);
  }

  /** The parameters (named views of one flat buffer); writing them changes the model. */
  @Override
  public FlatTensors parameters() {
    checkOpen();
    return params;
  }

  /** The accumulated gradients, laid out like {@link #parameters()}. */
  @Override
  public FlatTensors gradients() {
    checkOpen();
    return grads();
  }

  private FlatTensors grads() {
    if (grads == null) {
      grads = FlatTensors.zeros(params.layout(), options.dataType());
      gradWeights = new LlamaWeights(grads, config);
    }
    return grads;
  }

  /**
   * Whether the gradient buffer of the model's own weights exists: it is allocated on first use, so
   * a model trained only through LoRA adapters on a frozen base never holds it.
   */
  public boolean gradientsAllocated() {
    return grads != null;
  }

  /** Sets all gradients to zero. */
  @Override
  public void zeroGradients() {
    checkOpen();
    if (grads != null) {
      grads.zero();
    }
    if (math.adapters != null) {
      math.adapters.zeroGradients();
    }
  }

  /**
   * All parameters as one optimiser group; with adapters attached on a frozen base (LoRA), the
   * adapters' tensors alone, so that every trainer (SFT, reward model, PPO, DPO) trains just them.
   */
  @Override
  public org.rlhf4j.core.model.Trainable trainable() {
    checkOpen();
    if (math.adapters != null && math.adapters.freezesBase()) {
      return math.adapters.trainable(options.threads());
    }
    return new org.rlhf4j.core.model.Trainable(toString(), params, grads(), options.threads());
  }

  /**
   * Runs the model on {@code batch}; the returned pass computes the heads on demand and
   * backpropagates. Invalidates any earlier pass of this model.
   *
   * @throws RlhfException if a token id is outside the vocabulary or the batch is longer than the
   *     context
   */
  @Override
  public LlamaForwardPass forward(TokenBatch batch) {
    checkOpen();
    validate(batch);
    int b = batch.batchSize();
    int t = batch.length();
    synchronized (passLock) {
      ws.ensure(b, t, options.threads());
      fillRows(batch, ws.ids, ws.keyMask, ws.positions);
      math.forward(ws, weights, options.threads());
      return new LlamaForwardPass(this, ++passId, batch);
    }
  }

  /** Row-major ids, mask and positions counted over real tokens ({@code max(0, real tokens so far - 1)}). */
  static void fillRows(TokenBatch batch, int[] ids, int[] mask, int[] positions) {
    int t = batch.length();
    for (int r = 0; r < batch.batchSize(); r++) {
      int seen = 0;
      for (int j = 0; j < t; j++) {
        int i = r * t + j;
        ids[i] = batch.id(r, j);
        mask[i] = batch.mask(r, j);
        seen += mask[i];
        positions[i] = Math.max(0, seen - 1);
      }
    }
  }

  /**
   * A key/value-cached decoder for {@code batch} sequences of at most {@code capacity} positions
   * (prompt plus new tokens). The session reads this model's current parameters.
   */
  @Override
  public LlamaDecodeSession newDecodeSession(int batch, int capacity) {
    checkOpen();
    return new LlamaDecodeSession(this, batch, capacity);
  }

  private void validate(TokenBatch batch) {
    int v = config.vocabSize();
    if (batch.length() > config.contextLength()) {
      throw new RlhfException("sequence length " + batch.length() + " exceeds the model's context length " + config.contextLength());
    }
    for (int b = 0; b < batch.batchSize(); b++) {
      for (int t = 0; t < batch.length(); t++) {
        int id = batch.id(b, t);
        if (id < 0 || id >= v) {
          throw new RlhfException("token id " + id + " at batch row " + b + ", position " + t + " is outside the vocabulary [0, " + v + ")");
        }
      }
    }
  }

  // --- package-private access for the pass and the decoder

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the model " + config + " has been closed (its native memory was freed)");
    }
  }

  void checkCurrent(long id) {
    checkOpen();
    if (id != passId) {
      throw new IllegalStateException("this forward pass is stale: the model has run another forward pass since");
    }
  }

  /**
   * Attaches adapters to this model's linear layers (e.g. {@code LoraLayers} of a LoRA adapter), or
   * detaches them with {@code null}. Passes from then on call them; an earlier pass becomes stale.
   */
  public void setAdapters(LinearAdapters adapters) {
    checkOpen();
    math.adapters = adapters;
    passId++;
  }

  /** The attached adapters, or null. */
  public LinearAdapters adapters() {
    return math.adapters;
  }

  LlamaWorkspace workspace() {
    return ws;
  }

  LlamaMath math() {
    return math;
  }

  LlamaWeights weights() {
    return weights;
  }

  LlamaWeights gradWeights() {
    grads();
    return gradWeights;
  }

  /** Whether {@link #close()} has been called. */
  @Override
  public boolean isClosed() {
    return closed;
  }

  /** Frees the model's native memory; using it afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    ws.close();
    if (grads != null) {
      grads.close();
    }
    params.close();
  }

  @Override
  public String toString() {
    return "LlamaModel" + config + " " + options.dataType();
  }
}
