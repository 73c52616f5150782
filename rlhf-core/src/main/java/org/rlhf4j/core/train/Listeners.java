package org.rlhf4j.core.train;

import com.google.common.collect.ImmutableList;
import java.util.List;

/** An immutable list of listeners called in order; itself a listener. */
public final class Listeners implements TrainingListener {
  private final ImmutableList<TrainingListener> listeners;

  private Listeners(List<TrainingListener> listeners) {
    this.listeners = ImmutableList.copyOf(listeners);
  }

  /** The listeners, in call order. */
  public static Listeners of(List<? extends TrainingListener> listeners) {
    return new Listeners(ImmutableList.copyOf(listeners));
  }

  /** The listeners, in call order. */
  public static Listeners of(TrainingListener... listeners) {
    return new Listeners(ImmutableList.copyOf(listeners));
  }

  /** No listeners. */
  public static Listeners none() {
    return new Listeners(ImmutableList.of());
  }

  @Override
  public void onStart(String phase, long totalSteps) {
    listeners.forEach(l -> l.onStart(phase, totalSteps));
  }

  @Override
  public void onStep(Metrics metrics) {
    listeners.forEach(l -> l.onStep(metrics));
  }

  @Override
  public void onEvaluation(Metrics metrics) {
    listeners.forEach(l -> l.onEvaluation(metrics));
  }

  @Override
  public void onEnd(Metrics summary) {
    listeners.forEach(l -> l.onEnd(summary));
  }

  /** Whether any listener asks to stop (all are asked). */
  @Override
  public boolean stopRequested() {
    boolean stop = false;
    for (TrainingListener l : listeners) {
      stop |= l.stopRequested();
    }
    return stop;
  }
}
