package org.rlhf4j.dl4j;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Which number of the network's output {@code [B, nOut]} is the reward of each row. The factories
 * check the column indices against the output and, for probabilities, that the rows are
 * probability distributions (softmax outputs); a violation names the row and value.
 */
@FunctionalInterface
public interface OutputSelector {
  /** The rewards {@code [B]} of the network output {@code output} ({@code [B, nOut]}). */
  double[] select(INDArray output);

  /** Column {@code j} as it is: a regression output, a single sigmoid unit, a score. */
  static OutputSelector column(int j) {
    checkArgument(j >= 0, "column must be >= 0, got %s", j);
    return out -> {
      double[][] m = matrix(out, j);
      double[] r = new double[m.length];
      for (int b = 0; b < m.length; b++) {
        r[b] = m[b][j];
      }
      return r;
    };
  }

  /**
   * The probability of class {@code j} from a softmax output: bounded in [0, 1], so PPO sees small
   * differences once the classifier is confident.
   */
  static OutputSelector probability(int j) {
    checkArgument(j >= 0, "class must be >= 0, got %s", j);
    return out -> {
      double[][] m = probabilities(out, j);
      double[] r = new double[m.length];
      for (int b = 0; b < m.length; b++) {
        r[b] = m[b][j];
      }
      return r;
    };
  }

  /**
   * {@code log p(positive) - log p(negative)} from a softmax output — the difference of the two
   * classes' logits, unbounded, so it keeps ranking responses the classifier is already sure about.
   * Probabilities are floored at 1e-30 (a float softmax underflows to 0 near 87 nats).
   */
  static OutputSelector logitDifference(int positive, int negative) {
    checkArgument(positive >= 0 && negative >= 0 && positive != negative, "need two different classes, got %s and %s", positive, negative);
    return out -> {
      double[][] m = probabilities(out, Math.max(positive, negative));
      double[] r = new double[m.length];
      for (int b = 0; b < m.length; b++) {
        r[b] = Math.log(Math.max(m[b][positive], 1e-30)) - Math.log(Math.max(m[b][negative], 1e-30));
      }
      return r;
    };
  }

  private static double[][] matrix(INDArray out, int maxColumn) {
    checkArgument(out.rank() == 2, "the network's output must be [batch, nOut], got shape %s", Arrays.toString(out.shape()));
    checkArgument(maxColumn < out.size(1), "column %s does not exist: the network has %s outputs", maxColumn, out.size(1));
    return out.castTo(DataType.DOUBLE).toDoubleMatrix();
  }

  private static double[][] probabilities(INDArray out, int maxColumn) {
    double[][] m = matrix(out, maxColumn);
    for (int b = 0; b < m.length; b++) {
      double sum = 0;
      for (int j = 0; j < m[b].length; j++) {
        checkArgument(
            m[b][j] >= 0 && m[b][j] <= 1,
            "row %s, column %s of the network's output is %s, not a probability (use OutputSelector.column for raw outputs)",
            (Integer) b,
            (Integer) j,
            (Double) m[b][j]);
        sum += m[b][j];
      }
      checkArgument(
          Math.abs(sum - 1) < 1e-3 * m[b].length,
          "row %s of the network's output sums to %s, not 1 (probability needs a softmax output layer; use OutputSelector.column)",
          (Integer) b,
          (Double) sum);
    }
    return m;
  }
}
