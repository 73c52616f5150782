package org.rlhf4j.examples;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.rlhf4j.core.train.Metrics;

/** PNG line charts of training metrics (XChart, rendered headless). */
public final class Plots {
  private Plots() {}

  /**
   * Moving averages over {@code window} steps of the metrics {@code names}, as new metrics named
   * {@code "name (avg window)"}.
   */
  public static List<Metrics> movingAverage(List<Metrics> points, List<String> names, int window) {
    List<Metrics> out = new ArrayList<>();
    for (int i = 0; i < points.size(); i++) {
      Map<String, Double> m = new LinkedHashMap<>();
      for (String name : names) {
        double sum = 0;
        int n = 0;
        for (int j = Math.max(0, i - window + 1); j <= i; j++) {
          if (points.get(j).get(name).isPresent()) {
            sum += points.get(j).value(name);
            n++;
          }
        }
        if (n > 0) {
          m.put(name + " (avg " + window + ")", sum / n);
        }
      }
      out.add(Metrics.of(points.get(i).phase(), points.get(i).step(), m));
    }
    return out;
  }

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

  /**
   * A scatter-and-line chart of named series of (x, y) points: {@code series} maps each name to
   * {@code {xs, ys}}, drawn in map order; empty series are skipped.
   */
  public static void xy(Path png, String title, String xTitle, String yTitle, Map<String, double[][]> series) {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(800).height(450).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
    chart.getStyler().setMarkerSize(6);
    for (Map.Entry<String, double[][]> e : series.entrySet()) {
      if (e.getValue()[0].length > 0) {
        chart.addSeries(e.getKey(), e.getValue()[0], e.getValue()[1]);
      }
    }
    try {
      BitmapEncoder.saveBitmap(chart, png.toString().replaceAll("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write plot " + png, e);
    }
  }
}
