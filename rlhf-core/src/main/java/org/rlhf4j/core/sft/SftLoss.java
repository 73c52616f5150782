package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The language-modelling loss: the mean negative log-likelihood of the target tokens, {@code L =
 * -sum(mask * logp) / sum(mask)}, and its gradient with respect to the per-token log-probabilities,
 * {@code -mask / sum(mask)} — zero wherever the mask is zero (prompt and padding positions).
 */
public final class SftLoss {
  private SftLoss() {}

  /** The loss and its gradient. */
  public record Result(double loss, INDArray gradLogProbs, long targets) {}

  /**
   * @param logProbs {@code [B, T-1]}: log p(token t+1 | prefix)
   * @param targetMask {@code [B, T-1]}: 1 where token t+1 is a target
   */
  public static Result compute(INDArray logProbs, INDArray targetMask) {
    checkArgument(
        Arrays.equals(logProbs.shape(), targetMask.shape()),
        "logProbs %s and mask %s differ in shape",
        Arrays.toString(logProbs.shape()),
        Arrays.toString(targetMask.shape()));
    INDArray mask = targetMask.castTo(logProbs.dataType());
    double count = mask.sumNumber().doubleValue();
    checkArgument(count > 0, "the batch has no target tokens");
    double loss = -logProbs.mul(mask).sumNumber().doubleValue() / count; // [B, T-1] -> scalar
    INDArray grad = mask.mul(-1.0 / count); // [B, T-1]
    return new Result(loss, grad, (long) count);
  }
}
