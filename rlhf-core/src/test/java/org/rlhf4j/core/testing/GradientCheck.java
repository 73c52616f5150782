package org.rlhf4j.core.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleSupplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Central finite differences in double precision against an analytic gradient: for every element
 * {@code i} of {@code param}, {@code (L(p + h e_i) - L(p - h e_i)) / 2h}. The relative error of a
 * tensor is {@code ||analytic - numeric|| / max(||analytic||, ||numeric||)}.
 */
public final class GradientCheck {
  private GradientCheck() {}

  /** The numeric gradient of {@code loss} with respect to {@code param} (which must be DOUBLE). */
  public static double[] numeric(INDArray param, DoubleSupplier loss, double h) {
    assertTrue(param.dataType() == DataType.DOUBLE, "gradient checks run in double precision");
    long n = param.length();
    double[] g = new double[Math.toIntExact(n)];
    INDArray flat = param.reshape(n);
    for (int i = 0; i < n; i++) {
      double orig = flat.getDouble(i);
      flat.putScalar(i, orig + h);
      double plus = loss.getAsDouble();
      flat.putScalar(i, orig - h);
      double minus = loss.getAsDouble();
      flat.putScalar(i, orig);
      g[i] = (plus - minus) / (2 * h);
    }
    return g;
  }

  /** The relative error {@code ||a - b|| / max(||a||, ||b||, 1e-12)}. */
  public static double relativeError(double[] a, double[] b) {
    double diff = 0;
    double na = 0;
    double nb = 0;
    for (int i = 0; i < a.length; i++) {
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    return Math.sqrt(diff) / Math.max(Math.max(Math.sqrt(na), Math.sqrt(nb)), 1e-12);
  }

  /**
   * Asserts that {@code analytic} matches the numeric gradient with relative error below {@code
   * tolerance}, and that the gradient is not trivially zero.
   */
  public static void assertMatches(String name, INDArray param, INDArray analytic, DoubleSupplier loss, double tolerance) {
    double[] num = numeric(param, loss, 1e-5);
    double[] ana = analytic.dup().reshape(analytic.length()).toDoubleVector();
    double err = relativeError(ana, num);
    double norm = 0;
    for (double v : num) {
      norm += v * v;
    }
    assertTrue(norm > 0, name + ": numeric gradient is zero; the check would prove nothing");
    assertTrue(err < tolerance, name + ": relative error " + err + " >= " + tolerance);
  }
}
