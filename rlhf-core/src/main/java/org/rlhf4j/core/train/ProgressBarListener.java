package org.rlhf4j.core.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A console progress bar per training phase (the {@code progressbar} library), showing a few chosen
 * metrics next to the bar.
 */
public final class ProgressBarListener implements TrainingListener {
  private final List<String> shown;
  private ProgressBar bar;

  /** A bar that shows the metrics named {@code shown} (those reported). */
  public ProgressBarListener(List<String> shown) {
    this.shown = List.copyOf(shown);
  }

  @Override
  public void onStart(String phase, long totalSteps) {
    close();
    bar =
        new ProgressBarBuilder()
            .setTaskName(phase)
            .setInitialMax(totalSteps)
            .setStyle(ProgressBarStyle.ASCII)
            .setUpdateIntervalMillis(250)
            .continuousUpdate()
            .build();
  }

  @Override
  public void onStep(Metrics m) {
    if (bar == null) {
      return;
    }
    bar.stepTo(m.step());
    Map<String, String> parts = new LinkedHashMap<>();
    for (String name : shown) {
      m.get(name).ifPresent(v -> parts.put(shortName(name), String.format(Locale.ROOT, "%.3g", v)));
    }
    bar.setExtraMessage(parts.toString());
  }

  @Override
  public void onEnd(Metrics summary) {
    close();
  }

  private static String shortName(String name) {
    int slash = name.lastIndexOf('/');
    return slash >= 0 ? name.substring(slash + 1) : name;
  }

  private void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }
}
