package org.rlhf4j.ppo;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.Rlhf4j;
import org.rlhf4j.core.io.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ConfigDrift;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.GptModel;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * The complete state of a {@link PpoTrainer}, for exact resume: the policy (with its value head),
 * the critic if separate, AdamW's moments and counters, the KL coefficient, the running score
 * moments and the step and episode counters. Random choices are derived from (seed, step), so no
 * generator state is needed. Layout: {@code policy/} and {@code critic/} model checkpoints, {@code
 * optimizer.safetensors}, {@code trainer_state.json}; the directory is published atomically.
 */
public final class PpoCheckpoint {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String STATE = "trainer_state.json";
  private static final String OPTIMIZER = "optimizer.safetensors";

  private PpoCheckpoint() {}

  /** Writes {@code trainer}'s state to {@code dir} (replacing it atomically). */
  public static void save(Path dir, PpoTrainer trainer, Tokenizer tokenizer) {
    Provenance prov = Provenance.of(PpoTrainer.PHASE, trainer.config().seed(), trainer.config().toMap(), null);
    try {
      AtomicFiles.publishDirectory(
          dir,
          tmp -> {
            ModelCheckpoint.writeFiles(tmp.resolve("policy"), trainer.policy(), prov, Map.of("kind", "policy"), tokenizer);
            if (trainer.critic() != null) {
              ModelCheckpoint.writeFiles(tmp.resolve("critic"), trainer.critic(), prov, Map.of("kind", "critic"), null);
            }
            AdamW opt = trainer.optimizer();
            Map<String, INDArray> moments = new LinkedHashMap<>();
            List<GptModel> models = models(trainer);
            for (int i = 0; i < models.size(); i++) {
              for (ParameterLayout.Entry e : models.get(i).parameters().layout().entries()) {
                moments.put("exp_avg." + i + "." + e.name(), opt.firstMoments(i).get(e.name()).array());
                moments.put("exp_avg_sq." + i + "." + e.name(), opt.secondMoments(i).get(e.name()).array());
              }
            }
            SafetensorsWriter.write(tmp.resolve(OPTIMIZER), moments, Map.of("format", "rlhf4j-adamw"));
            Map<String, Object> state = new LinkedHashMap<>();
            state.put("format_version", 1);
            state.put("library_version", Rlhf4j.VERSION);
            state.put("step", trainer.stepCount());
            state.put("episode", trainer.episodes());
            state.put("kl_coef", trainer.klController().beta());
            state.put("score_moments", trainer.scoreMoments().state());
            state.put("optimizer_step", opt.stepCount());
            state.put("optimizer_skipped", opt.skippedCount());
            state.put("config", trainer.config().toMap());
            Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state));
          });
    } catch (IOException e) {
      throw new CheckpointException("cannot write PPO checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Restores a state written by {@link #save} into {@code trainer}, which must have been built with
   * the same configuration and model architectures; afterwards it continues exactly as the saved
   * trainer would have.
   */
  public static void restore(Path dir, PpoTrainer trainer) {
    Path stateFile = dir.resolve(STATE);
    Map<String, Object> state;
    try {
      state = JSON.readValue(stateFile.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(stateFile + ": cannot read PPO state: " + e.getMessage(), e);
    }
    Object savedConfig = state.get("config");
    Map<String, Object> current = trainer.config().toMap();
    if (!sameJson(current, savedConfig)) {
      String drift = savedConfig instanceof Map<?, ?> m ? ConfigDrift.describe(stringKeys(m), current) : "not a JSON object: " + savedConfig;
      throw new CheckpointException(stateFile + ": field \"config\": the trainer's configuration differs from the checkpoint's: " + drift);
    }
    ModelCheckpoint.loadInto(dir.resolve("policy"), trainer.policy());
    if (trainer.critic() != null) {
      ModelCheckpoint.loadInto(dir.resolve("critic"), trainer.critic());
    }
    AdamW opt = trainer.optimizer();
    List<GptModel> models = models(trainer);
    try (SafetensorsReader r = SafetensorsReader.open(dir.resolve(OPTIMIZER))) {
      for (int i = 0; i < models.size(); i++) {
        FlatTensors m = opt.firstMoments(i);
        FlatTensors v = opt.secondMoments(i);
        for (ParameterLayout.Entry e : models.get(i).parameters().layout().entries()) {
          r.readInto("exp_avg." + i + "." + e.name(), m.get(e.name()).array());
          r.readInto("exp_avg_sq." + i + "." + e.name(), v.get(e.name()).array());
        }
      }
    }
    opt.restoreCounters(number(state, "optimizer_step", stateFile).longValue(), number(state, "optimizer_skipped", stateFile).longValue());
    trainer.klController().restore(number(state, "kl_coef", stateFile).doubleValue());
    Object moments = state.get("score_moments");
    if (!(moments instanceof List<?> l) || l.size() != 3) {
      throw new CheckpointException(stateFile + ": field \"score_moments\": expected 3 numbers, got " + moments);
    }
    trainer.scoreMoments().restore(new double[] {num(l.get(0)), num(l.get(1)), num(l.get(2))});
    trainer.restoreCounters(number(state, "step", stateFile).longValue(), number(state, "episode", stateFile).longValue());
  }

  private static boolean sameJson(Object a, Object b) {
    try {
      return JSON.writeValueAsString(a).equals(JSON.writeValueAsString(b));
    } catch (IOException e) {
      return false;
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, ?> stringKeys(Map<?, ?> m) {
    return (Map<String, ?>) m;
  }

  private static List<GptModel> models(PpoTrainer t) {
    return t.critic() == null ? List.of(t.policy()) : List.of(t.policy(), t.critic());
  }

  private static Number number(Map<String, Object> m, String field, Path file) {
    Object v = m.get(field);
    if (!(v instanceof Number)) {
      throw new CheckpointException(file + ": field \"" + field + "\": expected a number, got " + v);
    }
    return (Number) v;
  }

  private static double num(Object o) {
    return ((Number) o).doubleValue();
  }
}
