package org.rlhf4j.core.optim;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.Trainable;
import org.rlhf4j.core.tensor.OptimKernels;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * AdamW (decoupled weight decay) with global-norm gradient clipping over one or more groups of named
 * parameters ({@link Trainable}: a whole model through {@link
 * org.rlhf4j.core.model.CausalLm#trainable()}, or only an adapter's tensors), e.g. a policy and a
 * separate critic sharing one clipping norm. Each group's layout says which tensors are decayed (its
 * decay prefix). Reads each group's accumulated gradients; the caller zeroes them. If the loss or any gradient is NaN or infinite the step is skipped —
 * counted, logged and reported — and the weights are untouched.
 */
public final class AdamW implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AdamW.class);

  private final AdamWConfig config;
  private final ImmutableList<Trainable> groups;
  private final List<FlatTensors> firstMoments = new ArrayList<>();
  private final List<FlatTensors> secondMoments = new ArrayList<>();
  private final List<Chunks> chunks = new ArrayList<>();
  private long step;
  private long skipped;
  private boolean closed;

  /** Elements per chunk at least, when the update is split over the model's threads. */
  private static final int MIN_CHUNK = 1 << 16;

  /**
   * A group's flat parameter, gradient and moment buffers cut into the same contiguous chunks, one
   * per thread (the group's thread count, fewer for small groups): the element-wise update is the
   * same however it is cut; the squared norm is summed per chunk, then over chunks in order.
   */
  private static final class Chunks {
    final Tensor[] p;
    final Tensor[] g;
    final Tensor[] m;
    final Tensor[] v;
    final int[] decay;

    Chunks(Trainable group, FlatTensors m1, FlatTensors m2) {
      Tensor fp = group.parameters().flat();
      int n = fp.length();
      int parts = (int) Math.max(1, Math.min(group.threads(), n / MIN_CHUNK));
      p = new Tensor[parts];
      g = new Tensor[parts];
      m = new Tensor[parts];
      v = new Tensor[parts];
      decay = new int[parts];
      for (int c = 0; c < parts; c++) {
        int from = (int) ((long) n * c / parts);
        int to = (int) ((long) n * (c + 1) / parts);
        p[c] = fp.rows(from, to);
        g[c] = group.gradients().flat().rows(from, to);
        m[c] = m1.flat().rows(from, to);
        v[c] = m2.flat().rows(from, to);
        decay[c] = Math.max(0, Math.min(group.parameters().decayCount() - from, to - from));
      }
    }

    int parts() {
      return p.length;
    }
  }

  /**
   * An optimiser over {@code groups}' parameters (moments start at zero, laid out like each group's
   * parameters; {@link #firstMoments(int)} follows the list's order).
   */
  public AdamW(AdamWConfig config, List<Trainable> groups) {
    checkArgument(config != null, "AdamW needs a config");
    checkArgument(!groups.isEmpty(), "no parameters to optimise");
    this.config = config;
    this.groups = ImmutableList.copyOf(groups);
    for (Trainable g : groups) {
      firstMoments.add(FlatTensors.zeros(g.parameters().layout(), g.dataType()));
      secondMoments.add(FlatTensors.zeros(g.parameters().layout(), g.dataType()));
      chunks.add(new Chunks(g, firstMoments.get(firstMoments.size() - 1), secondMoments.get(secondMoments.size() - 1)));
    }
  }

  /** An optimiser over one group (e.g. {@code model.trainable()}). */
  public AdamW(AdamWConfig config, Trainable group) {
    this(config, List.of(group));
  }

  /** An optimiser over all of {@code model}'s parameters ({@link CausalLm#trainable()}). */
  public AdamW(AdamWConfig config, CausalLm model) {
    this(config, model.trainable());
  }

  /**
   * An optimiser over all parameters of each of {@code models} (e.g. a policy and a separate critic
   * sharing one clipping norm), one group per model in that order.
   */
  public static AdamW over(AdamWConfig config, List<? extends CausalLm> models) {
    List<Trainable> groups = new ArrayList<>();
    for (CausalLm m : models) {
      groups.add(m.trainable());
    }
    return new AdamW(config, groups);
  }

  /** The groups, in the order given. */
  public ImmutableList<Trainable> groups() {
    return groups;
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
    for (int i = 0; i < groups.size(); i++) {
      OptimKernels k = OptimKernels.of(groups.get(i).dataType());
      Chunks ch = chunks.get(i);
      double[] partial = new double[ch.parts()];
      Parallel.forEach(ch.parts(), c -> partial[c] = k.sumOfSquares(ch.g[c]));
      for (double x : partial) {
        sumSq += x;
      }
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
    for (int i = 0; i < groups.size(); i++) {
      OptimKernels k = OptimKernels.of(groups.get(i).dataType());
      Chunks ch = chunks.get(i);
      double clipFactor = config.maxGradNorm() / (norm + 1e-6);
      Parallel.forEach(
          ch.parts(),
          // clipping scales the gradients in place in the same pass
          c -> k.adamW(ch.p[c], ch.g[c], ch.m[c], ch.v[c], ch.decay[c], lr, config.beta1(), config.beta2(), config.eps(), config.weightDecay(), bc1, bc2,
              clip ? clipFactor : 1.0));
    }
    return new StepOutcome(true, step, lr, norm, clip, skipped);
  }

  /** The first moments of group {@code i} (for checkpoints). */
  public FlatTensors firstMoments(int i) {
    checkOpen();
    return firstMoments.get(i);
  }

  /** The second moments of group {@code i} (for checkpoints). */
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
