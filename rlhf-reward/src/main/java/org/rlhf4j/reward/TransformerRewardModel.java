package org.rlhf4j.reward;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * The InstructGPT reward model: a GPT backbone (typically initialised from the SFT model) whose LM
 * head is replaced by a linear scalar head, read at the last non-pad token of each sequence. {@link
 * #score} applies the normalisation {@code gain * r + bias} (identity until {@link #setNormalization}
 * is called, e.g. so that reference responses score mean 0 and std 1). Its backward pass is the core
 * model's. Not thread-safe; close it to free native memory.
 */
public final class TransformerRewardModel implements RewardModel, AutoCloseable {
  private static final int SCORING_BATCH = 32;
  private static final String GAIN = "reward_gain";
  private static final String BIAS = "reward_bias";

  /** The kind recorded in reward-model checkpoints ({@code reward_model}). */
  public static final String KIND = "reward_model";
  private final CausalLm model;
  private double gain = 1.0;
  private double bias = 0.0;

  private TransformerRewardModel(CausalLm model) {
    checkArgument(model.hasScalarHead(), "a reward model needs a GPT with a scalar head");
    this.model = model;
  }

  /**
   * A reward model initialised from {@code policy} (copied; the policy is untouched) with a new
   * scalar head N(0, 1/sqrt(d+1)), bias 0, drawn from {@code seed}.
   */
  public static TransformerRewardModel fromPolicy(CausalLm policy, long seed) {
    return new TransformerRewardModel(policy.withNewScalarHead(seed));
  }

  /** Wraps a GPT that has a scalar head (taking ownership of it). */
  public static TransformerRewardModel wrap(CausalLm modelWithScalarHead) {
    return new TransformerRewardModel(modelWithScalarHead);
  }

  /** The backbone and head, for training and checkpoints. */
  public CausalLm model() {
    checkOpen();
    return model;
  }

  /**
   * A copy of the backbone and head whose scalar output is this model's normalised score {@code gain
   * * raw + bias} (the head's weight is multiplied by the gain, its bias becomes {@code gain * b +
   * bias}), with {@code options}: PPO's critic initialised from the reward model (as InstructGPT
   * and TRL's PPOTrainer do) on the scale of the scores PPO optimises, so that its first values,
   * read at every response position, are the reward model's opinion of each prefix. The caller owns
   * (and closes) the copy.
   */
  public CausalLm criticCopy(ModelOptions options) {
    checkOpen();
    CausalLm c = model.copy(options);
    if (!c.parameters().layout().contains(HEAD_WEIGHT) || !c.parameters().layout().contains(HEAD_BIAS)) {
      c.close();
      throw new IllegalStateException("the reward model's " + model.getClass().getSimpleName() + " has no " + HEAD_WEIGHT + " and "
          + HEAD_BIAS + " parameters to rescale");
    }
    c.parameters().get(HEAD_WEIGHT).array().muli(gain);
    c.parameters().get(HEAD_BIAS).array().muli(gain).addi(bias);
    return c;
  }

  /** The scalar head's weight, as every model family names it. */
  static final String HEAD_WEIGHT = "scalar_head.weight";

  /** The scalar head's bias. */
  static final String HEAD_BIAS = "scalar_head.bias";

  /** The normalisation gain. */
  public double gain() {
    return gain;
  }

  /** The normalisation bias. */
  public double bias() {
    return bias;
  }

  /** Sets the normalisation applied by {@link #score}: {@code gain * raw + bias}. */
  public void setNormalization(double gain, double bias) {
    checkArgument(Double.isFinite(gain) && gain != 0, "gain must be finite and non-zero, got %s", gain);
    checkArgument(Double.isFinite(bias), "bias must be finite, got %s", bias);
    this.gain = gain;
    this.bias = bias;
  }

  /**
   * Sets the normalisation so that {@code references} (e.g. SFT samples for the training prompts)
   * score mean 0 and standard deviation 1.
   *
   * @return the raw mean and standard deviation of the references
   */
  public double[] normalizeTo(TokenBatch references) {
    return normalizeTo(rawScores(references).toDoubleVector());
  }

  /**
   * Sets the normalisation so that responses with the raw scores {@code rawScores} (scored before
   * any normalisation, e.g. SFT samples for the training prompts) score mean 0 and (sample) standard
   * deviation 1.
   *
   * @return the raw mean and standard deviation
   * @throws RlhfException if the scores are not finite or (nearly) constant
   */
  public double[] normalizeTo(double[] rawScores) {
    checkArgument(rawScores.length >= 2, "normalising needs at least 2 scores, got %s", rawScores.length);
    double mean = Arrays.stream(rawScores).average().orElse(Double.NaN);
    double std = Math.sqrt(Arrays.stream(rawScores).map(v -> (v - mean) * (v - mean)).sum() / (rawScores.length - 1));
    if (!(std > 1e-8) || !Double.isFinite(mean) || !Double.isFinite(std)) {
      throw new RlhfException("cannot normalise: the reference rewards have mean " + mean + " and standard deviation " + std);
    }
    setNormalization(1.0 / std, -mean / std);
    return new double[] {mean, std};
  }

  @Override
  public INDArray score(TokenBatch sequences) {
    return rawScores(sequences).muli(gain).addi(bias);
  }

  /** The unnormalised scores {@code [B]}, computed in chunks. */
  public INDArray rawScores(TokenBatch sequences) {
    checkOpen();
    int b = sequences.batchSize();
    double[] out = new double[b];
    for (int start = 0; start < b; start += SCORING_BATCH) {
      int end = Math.min(b, start + SCORING_BATCH);
      int[] rows = new int[end - start];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = start + i;
      }
      TokenBatch chunk = rows.length == b ? sequences : sequences.select(rows);
      double[] s = forward(chunk).scores();
      System.arraycopy(s, 0, out, start, s.length);
    }
    return Nd4j.createFromArray(out);
  }

  /**
   * A training forward pass: raw scores of {@code sequences}, and a backward that takes {@code
   * dL/dscore} and adds the parameter gradients to the model's.
   */
  public ScoredPass forward(TokenBatch sequences) {
    checkOpen();
    ForwardPass pass = model.forward(sequences);
    INDArray values = pass.values(); // [B, T]
    int b = sequences.batchSize();
    int[] last = new int[b];
    double[] scores = new double[b];
    for (int i = 0; i < b; i++) {
      last[i] = sequences.lastRealIndex(i);
      if (last[i] < 0) {
        throw new RlhfException("sequence " + i + " of the batch has no tokens to score");
      }
      scores[i] = values.getDouble(i, last[i]);
    }
    return new ScoredPass(pass, scores, last, sequences.length());
  }

  /** A forward pass of the reward model, ready for backward. */
  public static final class ScoredPass {
    private final ForwardPass pass;
    private final double[] scores;
    private final int[] last;
    private final int length;

    ScoredPass(ForwardPass pass, double[] scores, int[] last, int length) {
      this.pass = pass;
      this.scores = scores;
      this.last = last;
      this.length = length;
    }

    /** The raw scores, one per sequence. */
    public double[] scores() {
      return scores.clone();
    }

    /** Adds to the model's gradients the gradient of a loss with {@code dL/dscore = gradScores}. */
    public void backward(double[] gradScores) {
      checkArgument(gradScores.length == scores.length, "expected %s gradients, got %s", scores.length, gradScores.length);
      INDArray dValues = Nd4j.create(DataType.DOUBLE, scores.length, length); // [B, T]
      for (int i = 0; i < scores.length; i++) {
        dValues.putScalar(i, last[i], gradScores[i]);
      }
      pass.backward(OutputGradients.ofValues(dValues));
    }
  }



  /**
   * Saves the model and its normalisation as a checkpoint directory (see {@code ModelCheckpoint});
   * the tokenizer is saved with it if not null.
   */
  public void save(Path dir, Provenance provenance, Tokenizer tokenizer) {
    checkOpen();
    ModelCheckpoint.save(dir, model, provenance, Map.of(GAIN, gain, BIAS, bias, "kind", KIND), tokenizer);
  }

  /**
   * {@link #save} (without a tokenizer) into the existing directory {@code dir}, without atomicity:
   * for a composite checkpoint that its writer publishes as a whole.
   */
  public void writeFiles(Path dir, Provenance provenance) throws IOException {
    checkOpen();
    ModelCheckpoint.writeFiles(dir, model, provenance, Map.of(GAIN, gain, BIAS, bias, "kind", KIND), null);
  }

  /**
   * Overwrites this model's weights and normalisation with those of the reward-model checkpoint in
   * {@code dir} (same architecture).
   */
  public void loadFrom(Path dir) {
    checkOpen();
    Map<String, Object> extra = ModelCheckpoint.readExtra(dir);
    Object kind = extra.get("kind");
    if (kind != null && !KIND.equals(kind)) {
      throw new RlhfException(dir + ": not a reward model: the checkpoint holds a " + kind);
    }
    ModelCheckpoint.loadInto(dir, model);
    if (extra.get(GAIN) instanceof Number g && extra.get(BIAS) instanceof Number b) {
      setNormalization(g.doubleValue(), b.doubleValue());
    }
  }

  /** Loads a reward model saved by {@link #save}. */
  public static TransformerRewardModel load(Path dir, ModelOptions options) {
    ModelCheckpoint.LoadedLm l = ModelCheckpoint.loadAny(dir, options);
    Object kind = l.extra().get("kind");
    if (kind != null && !KIND.equals(kind)) {
      l.model().close();
      throw new RlhfException(dir + ": not a reward model: the checkpoint holds a " + kind + " (written by the "
          + l.provenance().trainer() + " trainer); load it with ModelCheckpoint.load");
    }
    if (!l.model().hasScalarHead()) {
      l.model().close();
      throw new RlhfException(dir + ": not a reward model (the checkpoint has no scalar head)");
    }
    TransformerRewardModel rm = new TransformerRewardModel(l.model());
    Object g = l.extra().get(GAIN);
    Object b = l.extra().get(BIAS);
    if (g instanceof Number && b instanceof Number) {
      rm.setNormalization(((Number) g).doubleValue(), ((Number) b).doubleValue());
    }
    return rm;
  }

  private void checkOpen() {
    if (model.isClosed()) {
      throw new IllegalStateException("the reward model has been closed (its native memory was freed)");
    }
  }

  /** The vocabulary size of the backbone (token ids must be below it). */
  public int vocabSize() {
    return model.vocabSize();
  }

  /** Frees the backbone's native memory (idempotent); using the reward model afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    model.close();
  }
}
