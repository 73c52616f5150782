package org.rlhf4j.core.optim;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.tensor.OptimKernels;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * AdamW (decoupled weight decay) with global-norm gradient clipping over one or more models (e.g. a
 * policy and a separate critic share one clipping norm). Reads each model's accumulated gradients;
 * the caller zeroes them. If the loss or any gradient is NaN or infinite the step is skipped —
 * counted, logged and reported — and the weights are untouched.
 */
public final class AdamW implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AdamW.class);

  private final AdamWConfig config;
  private final ImmutableList<GptModel> models;
  private final List<FlatTensors> firstMoments = new ArrayList<>();
  private final List<FlatTensors> secondMoments = new ArrayList<>();
  private long step;
  private long skipped;
  private boolean closed;

  /** An optimiser over {@code models}' parameters (moments start at zero). */
  public AdamW(AdamWConfig config, List<GptModel> models) {
    checkArgument(!models.isEmpty(), "no models to optimise");
    this.config = config;
    this.models = ImmutableList.copyOf(models);
    for (GptModel m : models) {
      firstMoments.add(FlatTensors.zeros(m.parameters().layout(), m.dataType()));
      secondMoments.add(FlatTensors.zeros(m.parameters().layout(), m.dataType()));
    }
  }

  /** An optimiser over one model. */
  public AdamW(AdamWConfig config, GptModel model) {
    this(config, List.of(model));
  }

  /** The configuration. */
  public AdamWConfig config() {
    return config;
  }

  /** The number of applied steps. */
  public long stepCount() {
    return step;
  }

  /** The number of skipped (non-finite) steps. */
  public long skippedCount() {
    return skipped;
  }

  /** The learning rate the next step will use. */
  public double nextLearningRate() {
    return config.schedule().lr(step + 1);
  }

  /** Applies the accumulated gradients, unless the gradients are not finite. */
  public StepOutcome step() {
    return step(0.0);
  }

  /**
   * Applies the accumulated gradients of a loss whose value was {@code loss}; skips the step if the
   * loss or the gradients are NaN or infinite.
   */
  public StepOutcome step(double loss) {
    checkOpen();
    double sumSq = 0;
    for (GptModel m : models) {
      sumSq += OptimKernels.of(m.dataType()).sumOfSquares(m.gradients().flat());
    }
    double norm = Math.sqrt(sumSq);
    double lr = config.schedule().lr(step + 1);
    if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
      skipped++;
      LOG.warn("skipping optimiser step {}: loss {} gradient norm {} (not finite); {} skipped so far", step + 1, loss, norm, skipped);
      return new StepOutcome(false, step, lr, norm, false, skipped);
    }
    boolean clip = config.maxGradNorm() > 0 && norm > config.maxGradNorm();
    step++;
    double bc1 = 1 - Math.pow(config.beta1(), step);
    double bc2 = 1 - Math.pow(config.beta2(), step);
    for (int i = 0; i < models.size(); i++) {
      GptModel m = models.get(i);
      OptimKernels k = OptimKernels.of(m.dataType());
      if (clip) {
        k.scale(m.gradients().flat(), config.maxGradNorm() / (norm + 1e-6));
      }
      k.adamW(
          m.parameters().flat(),
          m.gradients().flat(),
          firstMoments.get(i).flat(),
          secondMoments.get(i).flat(),
          m.parameters().decayCount(),
          lr,
          config.beta1(),
          config.beta2(),
          config.eps(),
          config.weightDecay(),
          bc1,
          bc2);
    }
    return new StepOutcome(true, step, lr, norm, clip, skipped);
  }

  /** The first moments of model {@code i} (for checkpoints). */
  public FlatTensors firstMoments(int i) {
    checkOpen();
    return firstMoments.get(i);
  }

  /** The second moments of model {@code i} (for checkpoints). */
  public FlatTensors secondMoments(int i) {
    checkOpen();
    return secondMoments.get(i);
  }

  /** Restores the step and skip counters (moments are restored through {@link #firstMoments}). */
  public void restoreCounters(long stepCount, long skippedCount) {
    checkArgument(stepCount >= 0 && skippedCount >= 0, "counters must be >= 0");
    this.step = stepCount;
    this.skipped = skippedCount;
  }

  /** Whether {@link #close()} has been called. */
  public boolean isClosed() {
    return closed;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the optimiser has been closed (its moments were freed)");
    }
  }

  /** Frees the moments; using the optimiser afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    firstMoments.forEach(FlatTensors::close);
    secondMoments.forEach(FlatTensors::close);
  }
}
