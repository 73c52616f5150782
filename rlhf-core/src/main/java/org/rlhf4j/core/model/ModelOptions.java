package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.Parallel;

/**
 * How a model computes: its element type (FLOAT normally; DOUBLE for gradient checks) and the number
 * of threads a batch is split over. Results are deterministic for a given {@code threads}.
 *
 * @param dataType FLOAT or DOUBLE
 * @param threads at least 1; a batch of B sequences uses {@code min(threads, B)} shards
 */
public record ModelOptions(DataType dataType, int threads) {
  public ModelOptions {
    checkArgument(
        dataType == DataType.FLOAT || dataType == DataType.DOUBLE, "dataType must be FLOAT or DOUBLE, got %s", dataType);
    checkArgument(threads >= 1, "threads must be >= 1, got %s", threads);
  }

  /** FLOAT, one thread per available processor. */
  public static ModelOptions defaults() {
    return new ModelOptions(DataType.FLOAT, Parallel.defaultThreads());
  }

  /** These options with another element type. */
  public ModelOptions withDataType(DataType type) {
    return new ModelOptions(type, threads);
  }

  /** These options with another thread count. */
  public ModelOptions withThreads(int n) {
    return new ModelOptions(dataType, n);
  }
}
