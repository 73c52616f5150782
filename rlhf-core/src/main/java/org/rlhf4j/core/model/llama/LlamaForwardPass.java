package org.rlhf4j.core.model.llama;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The result of {@link LlamaModel#forward}: the transformer has run, and the heads are computed on
 * demand — {@link #logits()}, {@link #tokenLogProbs(double)} (with entropy) and {@link #values()}.
 * {@link #backward} takes gradients of a loss with respect to those outputs and adds the parameter
 * gradients to the model's. Valid until the model's next forward pass.
 */
public final class LlamaForwardPass implements ForwardPass {
  private final LlamaModel model;
  private final long id;
  private final TokenBatch batch;
  private boolean logitsReady;
  private TokenLogProbs logProbs;

  LlamaForwardPass(LlamaModel model, long id, TokenBatch batch) {
    this.model = model;
    this.id = id;
    this.batch = batch;
  }

  /** The batch this pass ran on. */
  @Override
  public TokenBatch batch() {
    return batch;
  }

  private void ensureLogits() {
    model.checkCurrent(id);
    if (!logitsReady) {
      model.math().logits(model.workspace(), model.weights(), model.options().threads());
      logitsReady = true;
    }
  }

  /** The logits {@code [B, T, V]} (a new array). */
  @Override
  public INDArray logits() {
    ensureLogits();
    return model.workspace().logits.array().dup('c').reshape(batch.batchSize(), batch.length(), model.config().vocabSize());
  }

  /**
   * Per-token log-probabilities of the next token and next-token entropies, {@code [B, T-1]} each,
   * with logits divided by {@code temperature}. A later {@link #backward} uses the most recent
   * call's temperature.
   */
  @Override
  public TokenLogProbs tokenLogProbs(double temperature) {
    checkArgument(temperature > 0 && Double.isFinite(temperature), "temperature must be positive, got %s", temperature);
    checkArgument(batch.length() >= 2, "log-probabilities need sequences of length >= 2, got %s", batch.length());
    ensureLogits();
    int t = batch.length();
    INDArray logp = Nd4j.create(model.dataType(), batch.batchSize(), t - 1);
    INDArray ent = Nd4j.create(model.dataType(), batch.batchSize(), t - 1);
    model.math().tokenLogProbs(model.workspace(), 1.0 / temperature, Tensor.of(logp), Tensor.of(ent), model.options().threads());
    logProbs = new TokenLogProbs(logp, ent, temperature);
    return logProbs;
  }

  /** The scalar head's output at every position, {@code [B, T]}; needs a model with a scalar head. */
  @Override
  public INDArray values() {
    model.checkCurrent(id);
    checkState(model.config().scalarHead(), "the model has no scalar head (LlamaConfig.scalarHead)");
    INDArray out = Nd4j.create(model.dataType(), batch.batchSize(), batch.length());
    model.math().values(model.workspace(), model.weights(), Tensor.of(out).reshape((long) batch.batchSize() * batch.length()));
    return out;
  }

  /**
   * Adds to the model's gradients the gradient of a loss whose derivatives with respect to this
   * pass's outputs are {@code g}.
   */
  @Override
  public void backward(OutputGradients g) {
    model.checkCurrent(id);
    int b = batch.batchSize();
    int t = batch.length();
    int v = model.config().vocabSize();
    boolean hasDLogits = g.check(b, t, v, logProbs != null, model.config().scalarHead());
    boolean headGrads = g.logProbs() != null || g.entropy() != null;
    LlamaWorkspace ws = model.workspace();
    if (hasDLogits) {
      ensureLogits();
      model
          .math()
          .logitsGradient(
              ws,
              headGrads ? 1.0 / logProbs.temperature() : 1.0,
              headGrads ? Tensor.of(logProbs.entropy()) : null,
              tensorOrNull(g.logProbs()),
              tensorOrNull(g.entropy()),
              g.logits() == null ? null : Tensor.of(g.logits().castTo(model.dataType()).dup('c').reshape((long) b * t, v)),
              model.options().threads());
    }
    Tensor gv = g.values() == null ? null : tensorOrNull(g.values()).reshape((long) b * t);
    // adapters on a frozen base: the model's own gradient buffer is neither needed nor allocated
    boolean frozen = ws.adapted && model.adapters() != null && model.adapters().freezesBase();
    model.math().backward(ws, model.weights(), frozen ? null : model.gradWeights(), hasDLogits, gv, model.options().threads());
  }

  private Tensor tensorOrNull(INDArray a) {
    return a == null ? null : Tensor.of(a.castTo(model.dataType()).dup('c'));
  }
}
