package org.rlhf4j.core.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.optim.AdamW;

/**
 * AdamW's moments in a trainer checkpoint, shared by every trainer's format: one safetensors file
 * with {@code exp_avg.I.NAME} and {@code exp_avg_sq.I.NAME} for parameter NAME of model I, and the
 * check that refuses to write a state holding a NaN or infinite parameter or moment (naming it).
 */
public final class OptimizerMoments {
  /** The file name of the moments in a checkpoint directory. */
  public static final String FILE = "optimizer.safetensors";

  private OptimizerMoments() {}

  /** Writes the moments of {@code optimizer}, which updates {@code models} in this order, to {@code file}. */
  public static void write(Path file, List<CausalLm> models, AdamW optimizer) throws IOException {
    Map<String, INDArray> moments = new LinkedHashMap<>();
    for (int i = 0; i < models.size(); i++) {
      for (ParameterLayout.Entry e : models.get(i).parameters().layout().entries()) {
        moments.put("exp_avg." + i + "." + e.name(), optimizer.firstMoments(i).get(e.name()).array());
        moments.put("exp_avg_sq." + i + "." + e.name(), optimizer.secondMoments(i).get(e.name()).array());
      }
    }
    SafetensorsWriter.write(file, moments, Map.of("format", "rlhf4j-adamw"));
  }

  /** Overwrites the moments of {@code optimizer} with those in {@code file} (written by {@link #write}). */
  public static void read(Path file, List<CausalLm> models, AdamW optimizer) {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      for (int i = 0; i < models.size(); i++) {
        FlatTensors m = optimizer.firstMoments(i);
        FlatTensors v = optimizer.secondMoments(i);
        for (ParameterLayout.Entry e : models.get(i).parameters().layout().entries()) {
          r.readInto("exp_avg." + i + "." + e.name(), m.get(e.name()).array());
          r.readInto("exp_avg_sq." + i + "." + e.name(), v.get(e.name()).array());
        }
      }
    }
  }

  /**
   * Refuses, with a {@link CheckpointException} starting with {@code where}, models or moments
   * holding a NaN or infinite number; {@code names.get(i)} names model {@code i} in the message.
   */
  public static void checkFinite(String where, List<String> names, List<CausalLm> models, AdamW optimizer) {
    for (int i = 0; i < models.size(); i++) {
      checkFinite(where, names.get(i) + " parameter", models.get(i).parameters());
      checkFinite(where, names.get(i) + " optimiser first moment", optimizer.firstMoments(i));
      checkFinite(where, names.get(i) + " optimiser second moment", optimizer.secondMoments(i));
    }
  }

  private static void checkFinite(String where, String what, FlatTensors t) {
    INDArray flat = t.flat().array();
    // sum of |x| is finite iff every element is (no overflow for sane weights); find the culprit only if not
    if (Double.isFinite(flat.norm1Number().doubleValue())) {
      return;
    }
    for (ParameterLayout.Entry e : t.layout().entries()) {
      INDArray a = t.get(e.name()).array();
      for (long k = 0; k < a.length(); k++) {
        double v = a.getDouble(k);
        if (!Double.isFinite(v)) {
          throw new CheckpointException(where + what + " " + e.name() + "[" + k + "] is " + v);
        }
      }
    }
    // every element is finite; only their sum overflowed
  }
}
