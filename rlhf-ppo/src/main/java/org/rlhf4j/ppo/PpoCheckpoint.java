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
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * The complete state of a {@link PpoTrainer}, for exact resume: the policy (with its value head),
 * the critic if separate, AdamW's moments and counters, the KL coefficient, the running score
 * moments and the step and episode counters. Random choices are derived from (seed, step), so no
 * generator state is needed. Layout: {@code policy/} and {@code critic/} model checkpoints, {@code
 * optimizer.safetensors}, {@code trainer_state.json}; the directory is published atomically.
 *
 * <p>A checkpoint is always restorable: {@link #save} refuses (with {@link CheckpointException},
 * leaving the previous checkpoint in place) a state holding a NaN or infinite number — a parameter,
 * an optimiser moment, beta or a running score moment — so a diverged run cannot replace the last
 * good checkpoint. Checkpoints of format 1 (before TRL's {@code early_stopping}/{@code target_kl}
 * semantics and the new safeguards) restore into a trainer whose new settings have their defaults.
 */
public final class PpoCheckpoint {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String STATE = "trainer_state.json";
  private static final String OPTIMIZER = "optimizer.safetensors";
  private static final int FORMAT_VERSION = 2;

  private PpoCheckpoint() {}

  /**
   * Writes {@code trainer}'s state to {@code dir} (replacing it atomically).
   *
   * @throws CheckpointException if the state holds a NaN or infinite number (nothing is written)
   * @throws IllegalStateException if the trainer is closed or another thread is running a step
   */
  public static void save(Path dir, PpoTrainer trainer, Tokenizer tokenizer) {
    trainer.enter("PpoCheckpoint.save");
    try {
      write(dir, trainer, tokenizer);
    } finally {
      trainer.exit();
    }
  }

  /** {@link #save} from inside the trainer (its own thread holds it). */
  static void write(Path dir, PpoTrainer trainer, Tokenizer tokenizer) {
    for (CausalLm m : models(trainer)) {
      org.rlhf4j.core.train.TrainerCheckpoint.checkResumable("cannot write PPO checkpoint " + dir, m);
    }
    checkFinite(dir, trainer);
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
            List<CausalLm> models = models(trainer);
            for (int i = 0; i < models.size(); i++) {
              for (ParameterLayout.Entry e : models.get(i).parameters().layout().entries()) {
                moments.put("exp_avg." + i + "." + e.name(), opt.firstMoments(i).get(e.name()).array());
                moments.put("exp_avg_sq." + i + "." + e.name(), opt.secondMoments(i).get(e.name()).array());
              }
            }
            SafetensorsWriter.write(tmp.resolve(OPTIMIZER), moments, Map.of("format", "rlhf4j-adamw"));
            Map<String, Object> state = new LinkedHashMap<>();
            state.put("format_version", FORMAT_VERSION);
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
    trainer.enter("PpoCheckpoint.restore");
    try {
      read(dir, trainer);
    } finally {
      trainer.exit();
    }
  }

  private static void read(Path dir, PpoTrainer trainer) {
    AtomicFiles.recoverInterruptedSave(dir);
    Path stateFile = dir.resolve(STATE);
    Map<String, Object> state;
    try {
      state = JSON.readValue(stateFile.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(stateFile + ": cannot read PPO state: " + e.getMessage(), e);
    }
    Object savedConfig = state.get("config");
    Map<String, Object> current = trainer.config().toMap();
    if (savedConfig instanceof Map<?, ?> saved && !(state.get("format_version") instanceof Number v && v.intValue() >= 2)) {
      savedConfig = upgradeFormat1(saved, stateFile);
    }
    if (!sameJson(current, savedConfig)) {
      String drift = savedConfig instanceof Map<?, ?> m ? ConfigDrift.describe(stringKeys(m), current) : "not a JSON object: " + savedConfig;
      throw new CheckpointException(stateFile + ": field \"config\": the trainer's configuration differs from the checkpoint's: " + drift);
    }
    for (CausalLm m : models(trainer)) {
      org.rlhf4j.core.train.TrainerCheckpoint.checkResumable("cannot resume PPO from " + dir, m);
    }
    ModelCheckpoint.loadInto(dir.resolve("policy"), trainer.policy());
    if (trainer.critic() != null) {
      ModelCheckpoint.loadInto(dir.resolve("critic"), trainer.critic());
    }
    AdamW opt = trainer.optimizer();
    List<CausalLm> models = models(trainer);
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
    double beta = number(state, "kl_coef", stateFile).doubleValue();
    if (!(beta >= 0 && Double.isFinite(beta))) {
      throw new CheckpointException(stateFile + ": field \"kl_coef\": expected a finite number >= 0, got " + beta);
    }
    trainer.klController().restore(beta);
    Object moments = state.get("score_moments");
    if (!(moments instanceof List<?> l) || l.size() != 3 || !l.stream().allMatch(x -> x instanceof Number)) {
      throw new CheckpointException(stateFile + ": field \"score_moments\": expected 3 finite numbers, got " + moments);
    }
    double[] ms = {num(l.get(0)), num(l.get(1)), num(l.get(2))};
    try {
      trainer.scoreMoments().restore(ms);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(stateFile + ": field \"score_moments\": " + e.getMessage(), e);
    }
    trainer.restoreCounters(number(state, "step", stateFile).longValue(), number(state, "episode", stateFile).longValue());
  }

  /**
   * The configuration of a format-1 checkpoint in today's terms: settings added since take their
   * defaults, and format 1's {@code target_kl} (an approx-KL threshold, 0 = off) must have been off.
   */
  private static Map<String, Object> upgradeFormat1(Map<?, ?> saved, Path stateFile) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : saved.entrySet()) {
      out.put(String.valueOf(e.getKey()), e.getValue());
    }
    Object oldTarget = out.get("target_kl");
    if (oldTarget instanceof Number n && n.doubleValue() != 0) {
      throw new CheckpointException(
          stateFile + ": field \"config\": this format-1 checkpoint used the old early stop on approx-KL > " + n
              + " (exported as target_kl); today's target_kl has TRL's meaning (stop when mean(logp_old - logp) > 1.5 target_kl),"
              + " so the run cannot be resumed exactly");
    }
    Map<String, Object> defaults = PpoConfig.builder().build().toMap();
    Map<String, Object> upgraded = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : defaults.entrySet()) {
      String key = e.getKey();
      upgraded.put(key, out.containsKey(key) && !key.equals("target_kl") ? out.get(key) : e.getValue());
    }
    for (Map.Entry<String, Object> e : out.entrySet()) {
      upgraded.putIfAbsent(e.getKey(), e.getValue()); // optional keys (missing_eos_penalty, non_eos_score)
    }
    return upgraded;
  }

  /** Refuses a state holding a NaN or infinite number, naming it. */
  private static void checkFinite(Path dir, PpoTrainer trainer) {
    String where = "cannot write PPO checkpoint " + dir + " (the previous one is kept): ";
    double beta = trainer.klController().beta();
    if (!Double.isFinite(beta)) {
      throw new CheckpointException(where + "the KL coefficient is " + beta);
    }
    double[] m = trainer.scoreMoments().state();
    for (double x : m) {
      if (!Double.isFinite(x)) {
        throw new CheckpointException(where + "the running score moments are " + java.util.Arrays.toString(m));
      }
    }
    List<CausalLm> models = models(trainer);
    AdamW opt = trainer.optimizer();
    for (int i = 0; i < models.size(); i++) {
      String name = i == 0 ? "policy" : "critic";
      checkFinite(where, name + " parameter", models.get(i).parameters());
      checkFinite(where, name + " optimiser first moment", opt.firstMoments(i));
      checkFinite(where, name + " optimiser second moment", opt.secondMoments(i));
    }
  }

  private static void checkFinite(String where, String what, FlatTensors t) {
    INDArray flat = t.flat().array();
    // sum of |x| is finite iff every element is (no overflow for sane weights); find the culprit only if not
    double s = flat.norm1Number().doubleValue();
    if (Double.isFinite(s)) {
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

  /** Equal as JSON documents (key order and Java number types do not matter). */
  private static boolean sameJson(Object a, Object b) {
    try {
      return JSON.readTree(JSON.writeValueAsString(a)).equals(JSON.readTree(JSON.writeValueAsString(b)));
    } catch (IOException e) {
      return false;
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, ?> stringKeys(Map<?, ?> m) {
    return (Map<String, ?>) m;
  }

  private static List<CausalLm> models(PpoTrainer t) {
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
