package org.rlhf4j.examples;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.rlhf4j.core.train.Metrics;

/** PNG line charts of training metrics (XChart, rendered headless). */
public final class Plots {
  private Plots() {}

  /** One series per metric name, against the step; metrics a step lacks are skipped. */
  public static void lines(Path png, String title, List<Metrics> points, List<String> names) {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(800).height(450).title(title).xAxisTitle("step").build();
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
    chart.getStyler().setMarkerSize(3);
    for (String name : names) {
      List<Metrics> have = points.stream().filter(m -> m.get(name).isPresent()).toList();
      if (have.isEmpty()) {
        continue;
      }
      double[] x = have.stream().mapToDouble(Metrics::step).toArray();
      double[] y = have.stream().mapToDouble(m -> m.value(name)).toArray();
      chart.addSeries(name, x, y);
    }
    try {
      BitmapEncoder.saveBitmap(chart, png.toString().replaceAll("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write plot " + png, e);
    }
  }
}
