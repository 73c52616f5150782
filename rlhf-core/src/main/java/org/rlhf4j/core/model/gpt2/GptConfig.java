package org.rlhf4j.core.model.gpt2;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.base.MoreObjects;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.ParameterSpec.Init;
import org.rlhf4j.core.model.ParameterSpec;

/**
 * The shape of a GPT-2-architecture causal language model: token and learned position embeddings,
 * {@code layers} pre-LayerNorm blocks (causal multi-head self-attention, a GELU(tanh) MLP of width
 * {@code 4 * dModel}), a final LayerNorm, and an LM head tied to the token embedding. No dropout.
 * Optionally a scalar head per position (a value head for PPO, or the reward model's score head).
 *
 * <p>Immutable; build with {@link #builder()}, whose {@code build()} names the offending field.
 */
public final class GptConfig {
  /** The token embedding, {@code [V, d]} (also the tied LM head). */
  public static final String WTE = "wte";

  /** The learned position embedding, {@code [contextLength, d]}. */
  public static final String WPE = "wpe";

  /** The final LayerNorm's gain, {@code [d]}. */
  public static final String LN_F_WEIGHT = "ln_f.weight";

  /** The final LayerNorm's bias, {@code [d]}. */
  public static final String LN_F_BIAS = "ln_f.bias";

  /** The scalar head's weight, {@code [d]}. */
  public static final String SCALAR_HEAD_WEIGHT = "scalar_head.weight";

  /** The scalar head's bias, {@code [1]}. */
  public static final String SCALAR_HEAD_BIAS = "scalar_head.bias";

  private final int vocabSize;
  private final int dModel;
  private final int heads;
  private final int layers;
  private final int contextLength;
  private final double layerNormEps;
  private final boolean scalarHead;

  private GptConfig(Builder b) {
    this.vocabSize = b.vocabSize;
    this.dModel = b.dModel;
    this.heads = b.heads;
    this.layers = b.layers;
    this.contextLength = b.contextLength;
    this.layerNormEps = b.layerNormEps;
    this.scalarHead = b.scalarHead;
  }

  /** A builder with GPT-2's LayerNorm epsilon and no scalar head; sizes must be set. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this configuration. */
  public Builder toBuilder() {
    return new Builder()
        .vocabSize(vocabSize)
        .dModel(dModel)
        .heads(heads)
        .layers(layers)
        .contextLength(contextLength)
        .layerNormEps(layerNormEps)
        .scalarHead(scalarHead);
  }

  /** The number of token ids. */
  public int vocabSize() {
    return vocabSize;
  }

  /** The width of the residual stream ({@code n_embd}). */
  public int dModel() {
    return dModel;
  }

  /** The number of attention heads ({@code n_head}). */
  public int heads() {
    return heads;
  }

  /** The number of transformer blocks ({@code n_layer}). */
  public int layers() {
    return layers;
  }

  /** The maximum sequence length ({@code n_positions}). */
  public int contextLength() {
    return contextLength;
  }

  /** LayerNorm's epsilon ({@code layer_norm_epsilon}, 1e-5 in GPT-2). */
  public double layerNormEps() {
    return layerNormEps;
  }

  /** Whether the model has a scalar (value or score) head per position. */
  public boolean scalarHead() {
    return scalarHead;
  }

  /** The width of one attention head. */
  public int headDim() {
    return dModel / heads;
  }

  /** The width of the MLP's hidden layer, {@code 4 * dModel}. */
  public int mlpDim() {
    return 4 * dModel;
  }

  /** The number of parameters (the tied LM head counted once). */
  public long parameterCount() {
    return layout().totalSize();
  }

  /**
   * GPT-2's parameter table, the one place its names, shapes, initialisation and weight decay are
   * written. Names follow Hugging Face's GPT-2 ({@code wte}, {@code wpe}, {@code h.N.ln_1.weight},
   * {@code h.N.attn.c_attn.weight} with Conv1D's {@code [in, out]} layout, ..., {@code ln_f.bias})
   * plus {@code scalar_head.weight} and {@code scalar_head.bias}. Initialisation: N(0, 0.02) for
   * embeddings and weight matrices, with the residual projections ({@code attn.c_proj}, {@code
   * mlp.c_proj}) scaled by {@code 1/sqrt(2 * layers)}; zero biases; LayerNorm gains 1; the scalar
   * head N(0, 1/sqrt(d + 1)) and bias 0 (as in the InstructGPT reward model). Embeddings and
   * matrices (and the scalar head's weight) are weight-decayed.
   */
  public List<ParameterSpec> parameterTable() {
    long d = dModel;
    Init normal = Init.normal(0.02);
    List<ParameterSpec> t = new ArrayList<>();
    t.add(ParameterSpec.decayed(WTE, normal, vocabSize, d));
    t.add(ParameterSpec.decayed(WPE, normal, contextLength, d));
    for (int l = 0; l < layers; l++) {
      t.addAll(blockTable(l));
    }
    t.add(ParameterSpec.plain(LN_F_WEIGHT, Init.ones(), d));
    t.add(ParameterSpec.plain(LN_F_BIAS, Init.zeros(), d));
    if (scalarHead) {
      t.add(ParameterSpec.decayed(SCALAR_HEAD_WEIGHT, Init.normal(1.0 / Math.sqrt(d + 1.0)), d));
      t.add(ParameterSpec.plain(SCALAR_HEAD_BIAS, Init.zeros(), 1));
    }
    return t;
  }

  /**
   * Block {@code l}'s rows of the table, in the order of {@code Weights.Block}'s components (which
   * reads them from here).
   */
  List<ParameterSpec> blockTable(int l) {
    long d = dModel;
    long f = mlpDim();
    Init normal = Init.normal(0.02);
    Init proj = Init.normal(0.02 / Math.sqrt(2.0 * layers));
    String p = "h." + l + ".";
    return List.of(
        ParameterSpec.plain(p + "ln_1.weight", Init.ones(), d),
        ParameterSpec.plain(p + "ln_1.bias", Init.zeros(), d),
        ParameterSpec.decayed(p + "attn.c_attn.weight", normal, d, 3 * d),
        ParameterSpec.plain(p + "attn.c_attn.bias", Init.zeros(), 3 * d),
        ParameterSpec.decayed(p + "attn.c_proj.weight", proj, d, d),
        ParameterSpec.plain(p + "attn.c_proj.bias", Init.zeros(), d),
        ParameterSpec.plain(p + "ln_2.weight", Init.ones(), d),
        ParameterSpec.plain(p + "ln_2.bias", Init.zeros(), d),
        ParameterSpec.decayed(p + "mlp.c_fc.weight", normal, d, f),
        ParameterSpec.plain(p + "mlp.c_fc.bias", Init.zeros(), f),
        ParameterSpec.decayed(p + "mlp.c_proj.weight", proj, f, d),
        ParameterSpec.plain(p + "mlp.c_proj.bias", Init.zeros(), d));
  }

  /** The flat-buffer layout of {@link #parameterTable()} (decayed tensors first). */
  public ParameterLayout layout() {
    return ParameterLayout.of(parameterTable());
  }

  /** The configuration as a JSON-friendly map (keys as in Hugging Face's GPT-2 {@code config.json}). */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("vocab_size", vocabSize);
    m.put("n_embd", dModel);
    m.put("n_head", heads);
    m.put("n_layer", layers);
    m.put("n_positions", contextLength);
    m.put("layer_norm_epsilon", layerNormEps);
    m.put("scalar_head", scalarHead);
    return m;
  }

  /**
   * Reads a configuration written by {@link #toMap()} (or a Hugging Face GPT-2 {@code config.json}
   * map, whose {@code n_ctx} is accepted for {@code n_positions}).
   *
   * @param source names the origin in error messages (a file name)
   */
  public static GptConfig fromMap(Map<String, ?> m, String source) {
    Builder b = builder();
    b.vocabSize(intField(m, "vocab_size", source));
    b.dModel(intField(m, "n_embd", source));
    b.heads(intField(m, "n_head", source));
    b.layers(intField(m, "n_layer", source));
    b.contextLength(m.containsKey("n_positions") ? intField(m, "n_positions", source) : intField(m, "n_ctx", source));
    if (m.containsKey("layer_norm_epsilon")) {
      Object eps = m.get("layer_norm_epsilon");
      if (!(eps instanceof Number)) {
        throw new RlhfException(source + ": field \"layer_norm_epsilon\": expected a number, got " + eps);
      }
      b.layerNormEps(((Number) eps).doubleValue());
    }
    Object head = m.get("scalar_head");
    if (head != null) {
      if (!(head instanceof Boolean)) {
        throw new RlhfException(source + ": field \"scalar_head\": expected true or false, got " + head);
      }
      b.scalarHead((Boolean) head);
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new RlhfException(source + ": " + e.getMessage(), e);
    }
  }

  private static int intField(Map<String, ?> m, String key, String source) {
    Object v = m.get(key);
    if (v == null) {
      throw new RlhfException(source + ": missing field \"" + key + "\"");
    }
    if (!(v instanceof Integer || v instanceof Long) || ((Number) v).longValue() != ((Number) v).intValue()) {
      throw new RlhfException(source + ": field \"" + key + "\": expected an integer, got " + v);
    }
    return ((Number) v).intValue();
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof GptConfig)) {
      return false;
    }
    GptConfig c = (GptConfig) o;
    return vocabSize == c.vocabSize
        && dModel == c.dModel
        && heads == c.heads
        && layers == c.layers
        && contextLength == c.contextLength
        && Double.compare(layerNormEps, c.layerNormEps) == 0
        && scalarHead == c.scalarHead;
  }

  @Override
  public int hashCode() {
    return Objects.hash(vocabSize, dModel, heads, layers, contextLength, layerNormEps, scalarHead);
  }

  @Override
  public String toString() {
    return MoreObjects.toStringHelper(this)
        .add("vocab", vocabSize)
        .add("d", dModel)
        .add("heads", heads)
        .add("layers", layers)
        .add("context", contextLength)
        .add("scalarHead", scalarHead)
        .toString();
  }

  /** Builds a validated {@link GptConfig}. */
  public static final class Builder {
    private int vocabSize;
    private int dModel;
    private int heads;
    private int layers;
    private int contextLength;
    private double layerNormEps = 1e-5;
    private boolean scalarHead;

    private Builder() {}

    /** The number of token ids (required, at least 2). */
    public Builder vocabSize(int v) {
      this.vocabSize = v;
      return this;
    }

    /** The residual width (required; a multiple of {@code heads}). */
    public Builder dModel(int v) {
      this.dModel = v;
      return this;
    }

    /** The number of attention heads (required). */
    public Builder heads(int v) {
      this.heads = v;
      return this;
    }

    /** The number of blocks (required). */
    public Builder layers(int v) {
      this.layers = v;
      return this;
    }

    /** The maximum sequence length (required). */
    public Builder contextLength(int v) {
      this.contextLength = v;
      return this;
    }

    /** LayerNorm's epsilon (default 1e-5). */
    public Builder layerNormEps(double v) {
      this.layerNormEps = v;
      return this;
    }

    /** Whether to add a scalar head per position (default false). */
    public Builder scalarHead(boolean v) {
      this.scalarHead = v;
      return this;
    }

    /**
     * The configuration.
     *
     * @throws IllegalArgumentException naming the first invalid field and its value
     */
    public GptConfig build() {
      checkArgument(vocabSize >= 2, "vocabSize must be >= 2, got %s", vocabSize);
      checkArgument(dModel >= 1, "dModel must be >= 1, got %s", dModel);
      checkArgument(heads >= 1, "heads must be >= 1, got %s", heads);
      checkArgument(dModel % heads == 0, "dModel (%s) must be a multiple of heads (%s)", dModel, heads);
      checkArgument(layers >= 1, "layers must be >= 1, got %s", layers);
      checkArgument(contextLength >= 2, "contextLength must be >= 2, got %s", contextLength);
      checkArgument(
          layerNormEps > 0 && Double.isFinite(layerNormEps), "layerNormEps must be positive and finite, got %s", layerNormEps);
      long activations = (long) contextLength * 4L * dModel;
      checkArgument(activations <= Integer.MAX_VALUE, "contextLength * 4 * dModel too large: %s", activations);
      return new GptConfig(this);
    }
  }
}
