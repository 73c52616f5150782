package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.sft.SequenceBatch;

/**
 * Log-probabilities of whole responses: for each row of a {@link SequenceBatch}, the sum (or the
 * mean) over its target tokens of {@code log p(token | prefix)} under a model at temperature 1 —
 * what DPO, and any sequence-level objective, needs from a causal LM. The reductions and their
 * gradients are pure functions ({@link #reduce}, {@link #gradient}); {@link #forward} runs the model
 * and keeps the pass so that a loss on the per-row values can be back-propagated with {@link
 * Pass#backward}.
 */
public final class SequenceLogProbs {
  private SequenceLogProbs() {}

  /** How the per-token log-probabilities of a response are combined. */
  public enum Reduction {
    /** {@code sum_t mask[t] * logp[t]}: the log-probability of the whole response. */
    SUM,
    /** The sum divided by the number of target tokens (length-normalised, as IPO uses). */
    MEAN
  }

  /**
   * The per-row reduction of {@code logProbs} over the target positions.
   *
   * @param logProbs {@code [B, T-1]}: log p(token t+1 | prefix)
   * @param targetMask {@code [B, T-1]}: 1 where token t+1 belongs to the response
   * @return {@code [B]} sums or means
   * @throws IllegalArgumentException if the shapes differ or a row has no target token
   */
  public static double[] reduce(INDArray logProbs, INDArray targetMask, Reduction reduction) {
    checkShapes(logProbs, targetMask);
    double[][] lp = toMatrix(logProbs);
    double[][] m = toMatrix(targetMask);
    double[] out = new double[lp.length];
    for (int b = 0; b < lp.length; b++) {
      double s = 0;
      double n = 0;
      for (int t = 0; t < lp[b].length; t++) {
        if (m[b][t] != 0) {
          s += m[b][t] * lp[b][t];
          n += m[b][t];
        }
      }
      checkArgument(n > 0, "row %s has no target (response) tokens", b);
      out[b] = reduction == Reduction.SUM ? s : s / n;
    }
    return out;
  }

  /**
   * The gradient with respect to the per-token log-probabilities, {@code [B, T-1]}, of a loss whose
   * gradient with respect to the per-row values of {@link #reduce} is {@code dValues}: {@code
   * dValues[b] * mask[b, t]} (divided by the row's target count for {@link Reduction#MEAN}); zero on
   * prompt and padding positions.
   */
  public static INDArray gradient(double[] dValues, INDArray targetMask, Reduction reduction) {
    checkNotNull(dValues, "dValues");
    checkArgument(targetMask.rank() == 2, "targetMask must be [B, T-1], got rank %s", targetMask.rank());
    checkArgument(
        dValues.length == targetMask.size(0), "dValues has %s rows, the mask %s", dValues.length, targetMask.size(0));
    double[][] m = toMatrix(targetMask);
    int cols = (int) targetMask.size(1);
    double[] g = new double[dValues.length * cols];
    for (int b = 0; b < dValues.length; b++) {
      double n = 0;
      for (int t = 0; t < cols; t++) {
        n += m[b][t];
      }
      checkArgument(n > 0, "row %s has no target (response) tokens", b);
      double scale = reduction == Reduction.SUM ? dValues[b] : dValues[b] / n;
      for (int t = 0; t < cols; t++) {
        g[b * cols + t] = scale * m[b][t];
      }
    }
    return Nd4j.createFromArray(g).reshape(dValues.length, cols);
  }

  /**
   * Runs {@code model} on {@code batch} and reduces its log-probabilities; {@link Pass#backward}
   * then adds the parameter gradients of a loss on those values to the model's gradients (the
   * caller zeroes them first). Valid until the model's next forward pass.
   */
  public static Pass forward(CausalLm model, SequenceBatch batch, Reduction reduction) {
    checkNotNull(reduction, "reduction");
    ForwardPass pass = model.forward(batch.tokens());
    INDArray logp = pass.tokenLogProbs(1.0).logProbs(); // [B, T-1]
    return new Pass(pass, batch.targetMask(), reduction, reduce(logp, batch.targetMask(), reduction));
  }

  /** The per-row values of {@code batch} under {@code model}, {@code [B]}, without keeping the pass. */
  public static double[] compute(CausalLm model, SequenceBatch batch, Reduction reduction) {
    return forward(model, batch, reduction).values();
  }

  /** A forward pass with its per-row response log-probabilities. */
  public static final class Pass {
    private final ForwardPass pass;
    private final INDArray targetMask;
    private final Reduction reduction;
    private final double[] values;
    private boolean backwardDone;

    private Pass(ForwardPass pass, INDArray targetMask, Reduction reduction, double[] values) {
      this.pass = pass;
      this.targetMask = targetMask;
      this.reduction = reduction;
      this.values = values;
    }

    /** The per-row sums or means, {@code [B]} (a copy). */
    public double[] values() {
      return values.clone();
    }

    /** The reduction used. */
    public Reduction reduction() {
      return reduction;
    }

    /**
     * Adds to the model's gradients those of a loss whose gradient with respect to {@link
     * #values()} is {@code dValues} ({@code [B]}). Once per pass.
     */
    public void backward(double[] dValues) {
      checkState(!backwardDone, "backward was already called on this pass");
      for (int b = 0; b < dValues.length; b++) {
        checkArgument(Double.isFinite(dValues[b]), "dValues[%s] is not finite: %s", (Integer) b, (Double) dValues[b]);
      }
      INDArray g = gradient(dValues, targetMask, reduction); // [B, T-1]
      pass.backward(OutputGradients.ofLogProbs(g));
      backwardDone = true;
    }
  }

  private static void checkShapes(INDArray logProbs, INDArray targetMask) {
    checkArgument(logProbs.rank() == 2, "logProbs must be [B, T-1], got rank %s", logProbs.rank());
    checkArgument(
        Arrays.equals(logProbs.shape(), targetMask.shape()),
        "logProbs %s and targetMask %s differ in shape",
        Arrays.toString(logProbs.shape()),
        Arrays.toString(targetMask.shape()));
  }

  private static double[][] toMatrix(INDArray a) {
    return a.castTo(DataType.DOUBLE).toDoubleMatrix();
  }
}
