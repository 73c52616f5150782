package org.rlhf4j.core.model.llama;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The architecture of a Llama-family causal language model (Llama 2/3, SmolLM2, Qwen2/2.5,
 * Mistral): token embedding, {@code layers} blocks of RMSNorm → grouped-query self-attention with
 * rotary positions → residual, RMSNorm → SwiGLU MLP → residual, a final RMSNorm and an LM head
 * (tied to the embedding or separate), and optionally a scalar head on the final hidden states
 * (reward model or critic). Immutable; build with {@link #builder()}.
 *
 * <p>Shapes: {@code d = hiddenSize}, {@code F = intermediateSize}, {@code H = heads} query heads and
 * {@code KV = kvHeads} key/value heads of width {@code dh = headDim}; {@code H} is a multiple of
 * {@code KV}.
 */
public final class LlamaConfig {

  /** The Hugging Face architecture a model is read from and written as. */
  public enum Family {
    /** {@code LlamaForCausalLM} ({@code model_type: llama}). */
    LLAMA("llama", "LlamaForCausalLM"),
    /** {@code Qwen2ForCausalLM} ({@code model_type: qwen2}): biases on q, k and v. */
    QWEN2("qwen2", "Qwen2ForCausalLM"),
    /** {@code MistralForCausalLM} ({@code model_type: mistral}). */
    MISTRAL("mistral", "MistralForCausalLM");

    private final String modelType;
    private final String architecture;

    Family(String modelType, String architecture) {
      this.modelType = modelType;
      this.architecture = architecture;
    }

    /** The {@code model_type} of {@code config.json}. */
    public String modelType() {
      return modelType;
    }

    /** The class name in {@code config.json}'s {@code architectures}. */
    public String architecture() {
      return architecture;
    }
  }

  /**
   * Llama-3's rotary frequency scaling ({@code rope_type: llama3}): low frequencies (wavelengths
   * above {@code originalMaxPositions / lowFreqFactor}) are divided by {@code factor}, high ones
   * (below {@code originalMaxPositions / highFreqFactor}) kept, the band between interpolated.
   */
  public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
    /** Validates the values. */
    public Llama3Scaling {
      checkArgument(factor >= 1 && Double.isFinite(factor), "llama3 rope factor must be >= 1, got %s", factor);
      checkArgument(lowFreqFactor > 0 && Double.isFinite(lowFreqFactor), "low_freq_factor must be positive, got %s", lowFreqFactor);
      checkArgument(
          highFreqFactor > lowFreqFactor && Double.isFinite(highFreqFactor),
          "high_freq_factor (%s) must exceed low_freq_factor (%s)",
          highFreqFactor,
          lowFreqFactor);
      checkArgument(originalMaxPositions >= 1, "original_max_position_embeddings must be >= 1, got %s", originalMaxPositions);
    }
  }

  private final Family family;
  private final int vocabSize;
  private final int hiddenSize;
  private final int intermediateSize;
  private final int layers;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final int contextLength;
  private final double rmsNormEps;
  private final double ropeTheta;
  private final Llama3Scaling llama3Scaling; // null: default rope
  private final boolean tiedEmbeddings;
  private final boolean qkvBias;
  private final boolean scalarHead;

  private LlamaConfig(Builder b) {
    checkNotNull(b.family, "family");
    checkArgument(b.vocabSize >= 2, "vocabSize must be >= 2, got %s", b.vocabSize);
    checkArgument(b.hiddenSize >= 1, "hiddenSize must be >= 1, got %s", b.hiddenSize);
    checkArgument(b.intermediateSize >= 1, "intermediateSize must be >= 1, got %s", b.intermediateSize);
    checkArgument(b.layers >= 1, "layers must be >= 1, got %s", b.layers);
    checkArgument(b.heads >= 1, "heads must be >= 1, got %s", b.heads);
    int kv = b.kvHeads == 0 ? b.heads : b.kvHeads;
    checkArgument(kv >= 1 && b.heads % kv == 0, "heads (%s) must be a multiple of kvHeads (%s)", b.heads, kv);
    int dh = b.headDim == 0 ? b.hiddenSize / b.heads : b.headDim;
    checkArgument(
        b.headDim != 0 || b.hiddenSize % b.heads == 0,
        "hiddenSize (%s) must be a multiple of heads (%s) unless headDim is given",
        b.hiddenSize,
        b.heads);
    checkArgument(dh >= 2 && dh % 2 == 0, "headDim must be even and >= 2 for rotary positions, got %s", dh);
    checkArgument(b.contextLength >= 1, "contextLength must be >= 1, got %s", b.contextLength);
    checkArgument(b.rmsNormEps > 0 && Double.isFinite(b.rmsNormEps), "rmsNormEps must be positive, got %s", b.rmsNormEps);
    checkArgument(b.ropeTheta > 1 && Double.isFinite(b.ropeTheta), "ropeTheta must be > 1, got %s", b.ropeTheta);
    long params = (long) b.vocabSize * b.hiddenSize * (b.tiedEmbeddings ? 1 : 2)
        + (long) b.layers * ((long) b.hiddenSize * dh * (2L * b.heads + 2L * kv) + 3L * b.hiddenSize * b.intermediateSize);
    checkArgument(params < Integer.MAX_VALUE, "the model has %s parameters; at most %s fit one buffer", params, Integer.MAX_VALUE);
    this.family = b.family;
    this.vocabSize = b.vocabSize;
    this.hiddenSize = b.hiddenSize;
    this.intermediateSize = b.intermediateSize;
    this.layers = b.layers;
    this.heads = b.heads;
    this.kvHeads = kv;
    this.headDim = dh;
    this.contextLength = b.contextLength;
    this.rmsNormEps = b.rmsNormEps;
    this.ropeTheta = b.ropeTheta;
    this.llama3Scaling = b.llama3Scaling;
    this.tiedEmbeddings = b.tiedEmbeddings;
    this.qkvBias = b.qkvBias;
    this.scalarHead = b.scalarHead;
  }

  /** A builder with Llama defaults (family LLAMA, eps 1e-5, theta 1e4, untied, no biases). */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this configuration. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.family = family;
    b.vocabSize = vocabSize;
    b.hiddenSize = hiddenSize;
    b.intermediateSize = intermediateSize;
    b.layers = layers;
    b.heads = heads;
    b.kvHeads = kvHeads;
    b.headDim = headDim;
    b.contextLength = contextLength;
    b.rmsNormEps = rmsNormEps;
    b.ropeTheta = ropeTheta;
    b.llama3Scaling = llama3Scaling;
    b.tiedEmbeddings = tiedEmbeddings;
    b.qkvBias = qkvBias;
    b.scalarHead = scalarHead;
    return b;
  }

  /** The Hugging Face family. */
  public Family family() {
    return family;
  }

  /** V. */
  public int vocabSize() {
    return vocabSize;
  }

  /** d. */
  public int hiddenSize() {
    return hiddenSize;
  }

  /** F, the MLP's inner width. */
  public int intermediateSize() {
    return intermediateSize;
  }

  /** The number of blocks. */
  public int layers() {
    return layers;
  }

  /** H, query heads. */
  public int heads() {
    return heads;
  }

  /** KV, key/value heads (H for plain multi-head attention, 1 for multi-query). */
  public int kvHeads() {
    return kvHeads;
  }

  /** dh, the width of a head. */
  public int headDim() {
    return headDim;
  }

  /** The longest sequence ({@code max_position_embeddings}). */
  public int contextLength() {
    return contextLength;
  }

  /** RMSNorm's epsilon. */
  public double rmsNormEps() {
    return rmsNormEps;
  }

  /** The rotary base. */
  public double ropeTheta() {
    return ropeTheta;
  }

  /** Llama-3 rope scaling, or null for the default rope (see {@link #hasLlama3Scaling()}). */
  public Llama3Scaling llama3Scaling() {
    return llama3Scaling;
  }

  /** Whether the rotary frequencies use Llama-3 scaling. */
  public boolean hasLlama3Scaling() {
    return llama3Scaling != null;
  }

  /** Whether the LM head is the token embedding. */
  public boolean tiedEmbeddings() {
    return tiedEmbeddings;
  }

  /** Whether q, k and v projections have biases (Qwen2). */
  public boolean qkvBias() {
    return qkvBias;
  }

  /** Whether the model has a scalar head. */
  public boolean scalarHead() {
    return scalarHead;
  }

  /**
   * The rotary inverse frequencies {@code [dh/2]}: {@code theta^(-2i/dh)}, with Llama-3 scaling
   * applied as in Hugging Face's {@code _compute_llama3_parameters}.
   */
  public double[] inverseFrequencies() {
    int half = headDim / 2;
    double[] inv = new double[half];
    for (int i = 0; i < half; i++) {
      inv[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
    }
    if (llama3Scaling != null) {
      Llama3Scaling s = llama3Scaling;
      double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
      double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
      for (int i = 0; i < half; i++) {
        double wavelen = 2 * Math.PI / inv[i];
        double scaled = wavelen > lowWavelen ? inv[i] / s.factor() : inv[i];
        boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
        if (medium) {
          double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
          scaled = (1 - smooth) * scaled / s.factor() + smooth * scaled;
        }
        inv[i] = scaled;
      }
    }
    return inv;
  }

  /** The parameter count (weights of every tensor of {@link LlamaLayout}). */
  public long parameterCount() {
    return LlamaLayout.of(this).totalSize();
  }

  /** The configuration as a JSON-ready map (what an rlhf4j checkpoint stores; read by {@link #fromMap}). */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("family", family.modelType());
    m.put("vocab_size", vocabSize);
    m.put("hidden_size", hiddenSize);
    m.put("intermediate_size", intermediateSize);
    m.put("layers", layers);
    m.put("heads", heads);
    m.put("kv_heads", kvHeads);
    m.put("head_dim", headDim);
    m.put("context_length", contextLength);
    m.put("rms_norm_eps", rmsNormEps);
    m.put("rope_theta", ropeTheta);
    if (llama3Scaling != null) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("factor", llama3Scaling.factor());
      r.put("low_freq_factor", llama3Scaling.lowFreqFactor());
      r.put("high_freq_factor", llama3Scaling.highFreqFactor());
      r.put("original_max_position_embeddings", llama3Scaling.originalMaxPositions());
      m.put("llama3_rope_scaling", r);
    }
    m.put("tied_embeddings", tiedEmbeddings);
    m.put("qkv_bias", qkvBias);
    m.put("scalar_head", scalarHead);
    return m;
  }

  /**
   * The configuration in {@code m} (as written by {@link #toMap}); {@code source} names the file in
   * errors.
   *
   * @throws IllegalArgumentException naming the field and value if one is missing or invalid
   */
  public static LlamaConfig fromMap(Map<String, ?> m, String source) {
    Builder b = builder();
    Object fam = m.get("family");
    Family family = null;
    for (Family f : Family.values()) {
      if (f.modelType().equals(fam)) {
        family = f;
      }
    }
    checkArgument(family != null, "%s: field \"family\": expected llama, qwen2 or mistral, got %s", source, fam);
    b.family(family)
        .vocabSize(intField(m, "vocab_size", source))
        .hiddenSize(intField(m, "hidden_size", source))
        .intermediateSize(intField(m, "intermediate_size", source))
        .layers(intField(m, "layers", source))
        .heads(intField(m, "heads", source))
        .kvHeads(intField(m, "kv_heads", source))
        .headDim(intField(m, "head_dim", source))
        .contextLength(intField(m, "context_length", source))
        .rmsNormEps(numberField(m, "rms_norm_eps", source))
        .ropeTheta(numberField(m, "rope_theta", source))
        .tiedEmbeddings(boolField(m, "tied_embeddings", source))
        .qkvBias(boolField(m, "qkv_bias", source))
        .scalarHead(boolField(m, "scalar_head", source));
    Object r = m.get("llama3_rope_scaling");
    if (r != null) {
      checkArgument(r instanceof Map<?, ?>, "%s: field \"llama3_rope_scaling\": expected an object, got %s", source, r);
      Map<?, ?> rm = (Map<?, ?>) r;
      @SuppressWarnings("unchecked")
      Map<String, ?> rs = (Map<String, ?>) rm;
      b.llama3Scaling(
          new Llama3Scaling(
              numberField(rs, "factor", source),
              numberField(rs, "low_freq_factor", source),
              numberField(rs, "high_freq_factor", source),
              intField(rs, "original_max_position_embeddings", source)));
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
    }
  }

  private static int intField(Map<String, ?> m, String name, String source) {
    Object v = m.get(name);
    checkArgument(
        v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && Math.abs(n.doubleValue()) <= Integer.MAX_VALUE,
        "%s: field \"%s\": expected an integer, got %s",
        source,
        name,
        v);
    return ((Number) v).intValue();
  }

  private static double numberField(Map<String, ?> m, String name, String source) {
    Object v = m.get(name);
    checkArgument(v instanceof Number n && Double.isFinite(n.doubleValue()), "%s: field \"%s\": expected a finite number, got %s", source, name, v);
    return ((Number) v).doubleValue();
  }

  private static boolean boolField(Map<String, ?> m, String name, String source) {
    Object v = m.get(name);
    checkArgument(v instanceof Boolean, "%s: field \"%s\": expected true or false, got %s", source, name, v);
    return (Boolean) v;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LlamaConfig c
        && family == c.family
        && vocabSize == c.vocabSize
        && hiddenSize == c.hiddenSize
        && intermediateSize == c.intermediateSize
        && layers == c.layers
        && heads == c.heads
        && kvHeads == c.kvHeads
        && headDim == c.headDim
        && contextLength == c.contextLength
        && rmsNormEps == c.rmsNormEps
        && ropeTheta == c.ropeTheta
        && Objects.equals(llama3Scaling, c.llama3Scaling)
        && tiedEmbeddings == c.tiedEmbeddings
        && qkvBias == c.qkvBias
        && scalarHead == c.scalarHead;
  }

  @Override
  public int hashCode() {
    return Objects.hash(family, vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, contextLength, rmsNormEps, ropeTheta, llama3Scaling, tiedEmbeddings, qkvBias, scalarHead);
  }

  @Override
  public String toString() {
    return "LlamaConfig{" + family + " V=" + vocabSize + " d=" + hiddenSize + " F=" + intermediateSize + " L=" + layers + " H=" + heads
        + " KV=" + kvHeads + " dh=" + headDim + " ctx=" + contextLength + " eps=" + rmsNormEps + " theta=" + ropeTheta
        + (llama3Scaling == null ? "" : " " + llama3Scaling) + (tiedEmbeddings ? " tied" : "") + (qkvBias ? " qkvBias" : "")
        + (scalarHead ? " scalarHead" : "") + "}";
  }

  /** Builds a {@link LlamaConfig}. */
  public static final class Builder {
    private Family family = Family.LLAMA;
    private int vocabSize;
    private int hiddenSize;
    private int intermediateSize;
    private int layers;
    private int heads;
    private int kvHeads; // 0: = heads
    private int headDim; // 0: hiddenSize / heads
    private int contextLength;
    private double rmsNormEps = 1e-5;
    private double ropeTheta = 10000;
    private Llama3Scaling llama3Scaling;
    private boolean tiedEmbeddings;
    private boolean qkvBias;
    private boolean scalarHead;

    private Builder() {}

    /** The Hugging Face family (default LLAMA). */
    public Builder family(Family v) {
      family = checkNotNull(v, "family");
      return this;
    }

    /** V. */
    public Builder vocabSize(int v) {
      vocabSize = v;
      return this;
    }

    /** d. */
    public Builder hiddenSize(int v) {
      hiddenSize = v;
      return this;
    }

    /** F. */
    public Builder intermediateSize(int v) {
      intermediateSize = v;
      return this;
    }

    /** The number of blocks. */
    public Builder layers(int v) {
      layers = v;
      return this;
    }

    /** H. */
    public Builder heads(int v) {
      heads = v;
      return this;
    }

    /** KV (default: H). */
    public Builder kvHeads(int v) {
      kvHeads = v;
      return this;
    }

    /** dh (default: d / H). */
    public Builder headDim(int v) {
      headDim = v;
      return this;
    }

    /** The longest sequence. */
    public Builder contextLength(int v) {
      contextLength = v;
      return this;
    }

    /** RMSNorm's epsilon (default 1e-5). */
    public Builder rmsNormEps(double v) {
      rmsNormEps = v;
      return this;
    }

    /** The rotary base (default 1e4). */
    public Builder ropeTheta(double v) {
      ropeTheta = v;
      return this;
    }

    /** Llama-3 rope scaling. */
    public Builder llama3Scaling(Llama3Scaling v) {
      llama3Scaling = checkNotNull(v, "llama3Scaling (use defaultRope() for none)");
      return this;
    }

    /** No rope scaling (the default). */
    public Builder defaultRope() {
      llama3Scaling = null;
      return this;
    }

    /** Whether the LM head is the token embedding (default false). */
    public Builder tiedEmbeddings(boolean v) {
      tiedEmbeddings = v;
      return this;
    }

    /** Whether q/k/v have biases (default false). */
    public Builder qkvBias(boolean v) {
      qkvBias = v;
      return this;
    }

    /** Whether the model has a scalar head (default false). */
    public Builder scalarHead(boolean v) {
      scalarHead = v;
      return this;
    }

    /** The configuration. */
    public LlamaConfig build() {
      return new LlamaConfig(this);
    }
  }
}
