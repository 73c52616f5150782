package org.rlhf4j.core.model.gpt2;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.Tensor;

/**
 * GPT-2's {@link ForwardPass}: the trunk has run over every shard of the batch; the heads (the tied
 * LM head, the scalar head) are computed per shard on demand, and the backward pass runs per shard,
 * the shards' gradients summed in shard order.
 */
final class GptForwardPass implements ForwardPass {
  private final GptModel model;
  private final long id;
  private final TokenBatch batch;
  private final int[] bounds;
  private boolean logitsReady;
  private TokenLogProbs logProbs;

  GptForwardPass(GptModel model, long id, TokenBatch batch, int[] bounds) {
    this.model = model;
    this.id = id;
    this.batch = batch;
    this.bounds = bounds;
  }

  @Override
  public TokenBatch batch() {
    return batch;
  }

  private int shards() {
    return bounds.length - 1;
  }

  private void ensureLogits() {
    model.checkCurrent(id);
    if (!logitsReady) {
      Parallel.forEach(shards(), s -> model.math().logits(model.shard(s).ws, model.weights()));
      logitsReady = true;
    }
  }

  @Override
  public INDArray logits() {
    ensureLogits();
    int t = batch.length();
    int v = model.config().vocabSize();
    INDArray out = Nd4j.create(model.dataType(), batch.batchSize(), t, v);
    for (int s = 0; s < shards(); s++) {
      Tensor src = model.shard(s).ws.logits;
      out.get(NDArrayIndex.interval(bounds[s], bounds[s + 1]))
          .assign(src.array().reshape(bounds[s + 1] - bounds[s], t, v));
    }
    return out;
  }

  @Override
  public TokenLogProbs tokenLogProbs(double temperature) {
    checkArgument(temperature > 0 && Double.isFinite(temperature), "temperature must be positive, got %s", temperature);
    checkArgument(batch.length() >= 2, "log-probabilities need sequences of length >= 2, got %s", batch.length());
    ensureLogits();
    int t = batch.length();
    INDArray logp = Nd4j.create(model.dataType(), batch.batchSize(), t - 1);
    INDArray ent = Nd4j.create(model.dataType(), batch.batchSize(), t - 1);
    Tensor lp = Tensor.of(logp);
    Tensor en = Tensor.of(ent);
    Parallel.forEach(
        shards(),
        s ->
            model
                .math()
                .tokenLogProbs(
                    model.shard(s).ws, 1.0 / temperature, lp.rows(bounds[s], bounds[s + 1]), en.rows(bounds[s], bounds[s + 1])));
    logProbs = new TokenLogProbs(logp, ent, temperature);
    return logProbs;
  }

  @Override
  public INDArray values() {
    model.checkCurrent(id);
    checkState(model.config().scalarHead(), "the model has no scalar head (GptConfig.scalarHead; see CausalLm.withNewScalarHead)");
    INDArray out = Nd4j.create(model.dataType(), batch.batchSize(), batch.length());
    Tensor o = Tensor.of(out);
    Parallel.forEach(
        shards(), s -> model.math().values(model.shard(s).ws, model.weights(), o.rows(bounds[s], bounds[s + 1])));
    return out;
  }

  @Override
  public void backward(OutputGradients g) {
    model.checkCurrent(id);
    int b = batch.batchSize();
    int t = batch.length();
    int v = model.config().vocabSize();
    boolean hasDLogits = g.check(b, t, v, logProbs != null, model.config().scalarHead());
    boolean headGrads = g.logProbs() != null || g.entropy() != null;
    if (hasDLogits) {
      ensureLogits();
    }
    Tensor gl = tensorOrNull(g.logProbs());
    Tensor ge = tensorOrNull(g.entropy());
    Tensor gv = tensorOrNull(g.values());
    Tensor gz = g.logits() == null ? null : Tensor.of(g.logits().castTo(model.dataType()).dup('c').reshape((long) b * t, v));
    Tensor ent = headGrads ? Tensor.of(logProbs.entropy()) : null;
    double invTemp = headGrads ? 1.0 / logProbs.temperature() : 1.0;
    // the shards add their gradients of the blocks' matrices into the model's, in turn; the rest after the pass
    MatrixGradientTurns turns = shards() > 1 ? new MatrixGradientTurns(model.gradWeights(), model.config().layers()) : null;
    Parallel.forEach(
        shards(),
        s -> {
          try {
            backwardShard(s, hasDLogits, invTemp, ent, gl, ge, gz, gv, t, turns == null ? null : turns.forShard(s));
          } catch (RuntimeException | Error e) {
            if (turns != null) {
              turns.abort();
            }
            throw e;
          }
        });
    model.reduceShardGradients(shards());
    if (model.adapters() != null) {
      model.adapters().sumShardGradients(shards());
    }
  }

  private void backwardShard(int s, boolean hasDLogits, double invTemp, Tensor ent, Tensor gl, Tensor ge, Tensor gz, Tensor gv, int t,
      ShardMath.SharedMatrixGradients shared) {
    GptModel.Shard shard = model.shard(s);
    int r0 = bounds[s];
    int r1 = bounds[s + 1];
    if (shard.grads != null && !shard.gradsClear) {
      shard.grads.zero();
    }
    shard.gradsClear = false;
    if (hasDLogits) {
      model
          .math()
          .logitsGradient(
              shard.ws,
              invTemp,
              ent == null ? null : ent.rows(r0, r1),
              gl == null ? null : gl.rows(r0, r1),
              ge == null ? null : ge.rows(r0, r1),
              gz == null ? null : gz.rows((long) r0 * t, (long) r1 * t));
    }
    model
        .math()
        .backward(shard.ws, model.weights(), shard.gradWeights, hasDLogits, gv == null ? null : gv.rows(r0, r1).reshape((long) (r1 - r0) * t), shared);
  }

  private Tensor tensorOrNull(INDArray a) {
    return a == null ? null : Tensor.of(a.castTo(model.dataType()).dup('c'));
  }
}
