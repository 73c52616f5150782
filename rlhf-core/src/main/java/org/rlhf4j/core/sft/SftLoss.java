package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.tensor.Tensor;

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
    // Plain loops in double over the rows' values (a batch's few thousand numbers): each ND4J op
    // would cost more than the arithmetic.
    double[] lp = values(logProbs); // [B*(T-1)]
    double[] mask = values(targetMask);
    double count = 0;
    double sum = 0;
    for (int i = 0; i < lp.length; i++) {
      if (mask[i] != 0) {
        count += mask[i];
        sum += mask[i] * lp[i];
      }
    }
    checkArgument(count > 0, "the batch has no target tokens");
    double loss = -sum / count;
    INDArray grad = Nd4j.create(logProbs.dataType(), logProbs.shape()); // [B, T-1]: -mask / count
    Tensor g = Tensor.of(grad);
    if (grad.dataType() == DataType.DOUBLE) {
      java.nio.DoubleBuffer b = g.writableDoubleBuffer();
      for (int i = 0; i < mask.length; i++) {
        b.put(i, -mask[i] / count);
      }
    } else {
      checkArgument(grad.dataType() == DataType.FLOAT, "log-probabilities must be FLOAT or DOUBLE, got %s", grad.dataType());
      java.nio.FloatBuffer b = g.writableFloatBuffer();
      for (int i = 0; i < mask.length; i++) {
        b.put(i, (float) (-mask[i] / count));
      }
    }
    return new Result(loss, grad, (long) count);
  }

  /** The elements of {@code a} in row-major order. */
  private static double[] values(INDArray a) {
    INDArray c = a.ordering() == 'c' && !a.isView() ? a : a.dup('c');
    return c.data().asDouble();
  }
}
