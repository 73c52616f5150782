package org.rlhf4j.examples;

import java.util.ArrayList;
import java.util.List;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.TrainingListener;

/** Keeps every step's and evaluation's metrics in memory (for plots and summaries). */
public final class MetricsRecorder implements TrainingListener {
  private final List<Metrics> steps = new ArrayList<>();
  private final List<Metrics> evaluations = new ArrayList<>();

  @Override
  public void onStep(Metrics m) {
    steps.add(m);
  }

  @Override
  public void onEvaluation(Metrics m) {
    evaluations.add(m);
  }

  /** The step metrics of {@code phase}, in order. */
  public List<Metrics> steps(String phase) {
    return steps.stream().filter(m -> m.phase().equals(phase)).toList();
  }

  /** The evaluations of {@code phase}, in order. */
  public List<Metrics> evaluations(String phase) {
    return evaluations.stream().filter(m -> m.phase().equals(phase)).toList();
  }
}
