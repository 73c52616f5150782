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
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.rlhf4j.core.Rlhf4j;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ConfigDrift;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.OptimizerMoments;
import org.rlhf4j.core.train.TrainerCheckpoint;

/**
 * The checkpoint format shared by the RL trainers: the trained models as model checkpoints
 * ({@code policy/}, {@code critic/}), AdamW's moments ({@code optimizer.safetensors}, keys {@code
 * exp_avg.<model>.<parameter>} and {@code exp_avg_sq.<model>.<parameter>}) and {@code
 * trainer_state.json} (format and library version, the trainer's own fields, AdamW's counters, the
 * configuration); the directory is published atomically. A model trained through a LoRA adapter
 * on a frozen base is refused ({@link TrainerCheckpoint#checkResumable}). A state holding a NaN or infinite
 * parameter or moment is refused, naming it, so that a diverged run cannot replace the last good
 * checkpoint. Random choices are derived from (seed, step), so no generator state is saved.
 */
final class RlState {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  static final String STATE = "trainer_state.json";

  private final String label; // "PPO", "GRPO": in messages
  private final String phase; // the provenance's trainer
  private final int formatVersion;
  private final long seed;
  private final Supplier<Map<String, Object>> config;
  private final List<String> names; // the models' directories, e.g. policy, critic
  private final List<CausalLm> models;
  private final AdamW optimizer;

  RlState(String label, String phase, int formatVersion, long seed, Supplier<Map<String, Object>> config, List<String> names,
      List<CausalLm> models, AdamW optimizer) {
    this.label = label;
    this.phase = phase;
    this.formatVersion = formatVersion;
    this.seed = seed;
    this.config = config;
    this.names = List.copyOf(names);
    this.models = List.copyOf(models);
    this.optimizer = optimizer;
  }

  /** The start of a refusal to write to {@code dir}. */
  String refusal(Path dir) {
    return "cannot write " + label + " checkpoint " + dir + " (the previous one is kept): ";
  }

  /**
   * Writes the state to {@code dir} (replacing it atomically): {@code fields} (the trainer's
   * counters and state, in order) go after the versions; the tokenizer, if not null, is saved with
   * the first model.
   *
   * @throws CheckpointException if a parameter or moment is NaN or infinite (nothing is written)
   */
  void write(Path dir, Map<String, Object> fields, Tokenizer tokenizer) {
    for (CausalLm m : models) {
      TrainerCheckpoint.checkResumable("cannot write " + label + " checkpoint " + dir, m);
    }
    OptimizerMoments.checkFinite(refusal(dir), names, models, optimizer);
    Map<String, Object> cfg = config.get();
    Provenance prov = Provenance.of(phase, seed, cfg, null);
    try {
      AtomicFiles.publishDirectory(
          dir,
          tmp -> {
            for (int i = 0; i < models.size(); i++) {
              ModelCheckpoint.writeFiles(tmp.resolve(names.get(i)), models.get(i), prov, Map.of("kind", names.get(i)),
                  i == 0 ? tokenizer : null);
            }
            OptimizerMoments.write(tmp.resolve(OptimizerMoments.FILE), models, optimizer);
            Map<String, Object> state = new LinkedHashMap<>();
            state.put("format_version", formatVersion);
            state.put("library_version", Rlhf4j.VERSION);
            state.putAll(fields);
            state.put("optimizer_step", optimizer.stepCount());
            state.put("optimizer_skipped", optimizer.skippedCount());
            state.put("config", cfg);
            Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state));
          });
    } catch (IOException e) {
      throw new CheckpointException("cannot write " + label + " checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Overwrites the models and the optimiser with the state written to {@code dir} by {@link #write}
   * (same configuration and model architectures) and returns the state file's fields for the
   * trainer's own. {@code upgrade} maps an older format's saved configuration (given the state and
   * the file) to today's terms.
   */
  Map<String, Object> read(Path dir, BiFunction<Map<String, Object>, Path, Object> upgrade) {
    for (CausalLm m : models) {
      TrainerCheckpoint.checkResumable("cannot resume " + label + " from " + dir, m);
    }
    AtomicFiles.recoverInterruptedSave(dir);
    Path stateFile = dir.resolve(STATE);
    Map<String, Object> state;
    try {
      state = JSON.readValue(stateFile.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(stateFile + ": cannot read " + label + " state: " + e.getMessage(), e);
    }
    Object savedConfig = upgrade.apply(state, stateFile);
    Map<String, Object> current = config.get();
    if (!sameJson(current, savedConfig)) {
      String drift = savedConfig instanceof Map<?, ?> m ? ConfigDrift.describe(stringKeys(m), current) : "not a JSON object: " + savedConfig;
      throw new CheckpointException(stateFile + ": field \"config\": the trainer's configuration differs from the checkpoint's: " + drift);
    }
    for (int i = 0; i < models.size(); i++) {
      ModelCheckpoint.loadInto(dir.resolve(names.get(i)), models.get(i));
    }
    OptimizerMoments.read(dir.resolve(OptimizerMoments.FILE), models, optimizer);
    optimizer.restoreCounters(number(state, "optimizer_step", stateFile).longValue(), number(state, "optimizer_skipped", stateFile).longValue());
    return state;
  }

  /** The saved configuration as it is (no older format to upgrade). */
  static Object savedConfig(Map<String, Object> state, Path stateFile) {
    return state.get("config");
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

  /** The number in {@code field} of the state file, or an error naming the file and field. */
  static Number number(Map<String, Object> m, String field, Path file) {
    return TrainerCheckpoint.number(m, field, file);
  }
}
