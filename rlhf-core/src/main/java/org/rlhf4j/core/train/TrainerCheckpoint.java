package org.rlhf4j.core.train;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.Rlhf4j;
import org.rlhf4j.core.fs.AtomicFiles;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.io.ConfigDrift;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;

/**
 * The state of a supervised trainer ({@link SupervisedLoop}) for exact resume, written as one
 * directory published atomically: the model checkpoint files (so the directory still loads as a
 * model), {@code optimizer.safetensors} (AdamW's first and second moments, {@code exp_avg.I.NAME}
 * and {@code exp_avg_sq.I.NAME} for model I) and {@code trainer_state.json} (format version,
 * library version, kind, seed, step, epoch and position in the data order, number of training
 * items, optimiser counters, last loss, the trainer's counters and its configuration).
 *
 * <p>A state holding a NaN or infinite parameter or moment is refused (the previous checkpoint is
 * kept). Restoring refuses a checkpoint of another kind (e.g. a reward model's into SFT), another
 * number of training items, or another configuration, naming only the differing keys ({@code
 * learning_rate: checkpoint 3.0E-5, now 1.0E-4}).
 */
public final class TrainerCheckpoint {
  /** The trainer state file. */
  public static final String STATE = "trainer_state.json";

  /** The optimiser moments file. */
  public static final String OPTIMIZER = OptimizerMoments.FILE;

  private static final int FORMAT_VERSION = 1;
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * A position in a run.
   *
   * @param step the last step done
   * @param epoch the 0-based epoch of that step's batch
   * @param position the index in that epoch's order after the batch
   * @param lastLoss that step's loss
   */
  public record Position(long step, int epoch, int position, double lastLoss) {}

  private TrainerCheckpoint() {}

  /** Whether {@code dir} holds a trainer state (not only a model). */
  public static boolean isTrainerCheckpoint(Path dir) {
    return Files.isRegularFile(dir.resolve(STATE));
  }

  /** The kind recorded in the trainer state of {@code dir} (e.g. {@code sft}, {@code reward_model}). */
  public static String kind(Path dir) {
    Map<String, Object> state = readState(dir);
    return String.valueOf(state.get("kind"));
  }

  /**
   * Refuses a resumable checkpoint of a model whose optimiser group is not its whole parameter set
   * (a LoRA adapter on a frozen base): the checkpoint would hold the base weights and not the
   * adapter. Save the adapter with {@code LoraAdapter.save} instead.
   *
   * @throws CheckpointException naming {@code what}
   */
  public static void checkResumable(String what, CausalLm model) {
    if (model.trainable().parameters() != model.parameters()) {
      throw new CheckpointException(
          what + ": resumable checkpoints of adapter (LoRA) training are not supported: the checkpoint would hold the"
              + " frozen base, not the adapter; save the adapter with LoraAdapter.save instead");
    }
  }

  static void write(Path dir, SupervisedLoop.Plan plan, AdamW opt, SupervisedLoop.Task task, Position p) {
    String where = "cannot write " + plan.kind() + " checkpoint " + dir + " (the previous one is kept): ";
    List<CausalLm> models = plan.models();
    for (CausalLm m : models) {
      checkResumable("cannot write " + plan.kind() + " checkpoint " + dir, m);
    }
    List<String> names = new ArrayList<>();
    for (int i = 0; i < models.size(); i++) {
      names.add("model " + i);
    }
    OptimizerMoments.checkFinite(where, names, models, opt);
    try {
      AtomicFiles.publishDirectory(
          dir,
          tmp -> {
            task.writeModels(tmp, p.step());
            OptimizerMoments.write(tmp.resolve(OPTIMIZER), models, opt);
            Map<String, Object> state = new LinkedHashMap<>();
            state.put("format", "rlhf4j-trainer-state");
            state.put("format_version", FORMAT_VERSION);
            state.put("library_version", Rlhf4j.VERSION);
            state.put("kind", plan.kind());
            state.put("seed", plan.seed());
            state.put("step", p.step());
            state.put("epoch", p.epoch());
            state.put("position", p.position());
            state.put("examples", plan.examples());
            state.put("optimizer_step", opt.stepCount());
            state.put("optimizer_skipped", opt.skippedCount());
            state.put("last_loss", Double.isFinite(p.lastLoss()) ? p.lastLoss() : null);
            state.put("trainer", task.state());
            state.put("config", plan.config());
            Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state));
          });
    } catch (IOException e) {
      throw new CheckpointException("cannot write " + plan.kind() + " checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  static Position restore(Path dir, SupervisedLoop.Plan plan, AdamW opt, SupervisedLoop.Task task) {
    AtomicFiles.recoverInterruptedSave(dir);
    Path stateFile = dir.resolve(STATE);
    if (!Files.isRegularFile(stateFile)) {
      throw new CheckpointException(
          dir + ": not a resumable " + plan.kind() + " checkpoint (no " + STATE
              + "; a model-only checkpoint can start a new run, not continue one)");
    }
    Map<String, Object> state = readState(dir);
    Object version = state.get("format_version");
    if (!(version instanceof Number v) || v.intValue() < 1 || v.intValue() > FORMAT_VERSION) {
      throw new CheckpointException(stateFile + ": field \"format_version\": unsupported value " + version + " (this library reads 1.." + FORMAT_VERSION + ")");
    }
    Object kind = state.get("kind");
    if (!plan.kind().equals(kind)) {
      throw new CheckpointException(
          stateFile + ": field \"kind\": the checkpoint is of a " + kind + " trainer, not " + plan.kind() + "; it cannot be resumed here");
    }
    Object saved = state.get("config");
    if (!(saved instanceof Map<?, ?> savedMap)) {
      throw new CheckpointException(stateFile + ": field \"config\": expected an object, got " + saved);
    }
    @SuppressWarnings("unchecked")
    Map<String, ?> savedConfig = (Map<String, ?>) savedMap;
    String drift = ConfigDrift.describe(savedConfig, asJson(plan.config()));
    if (!drift.isEmpty()) {
      throw new CheckpointException(stateFile + ": field \"config\": the trainer's configuration differs from the checkpoint's: " + drift);
    }
    long examples = number(state, "examples", stateFile).longValue();
    if (examples != plan.examples()) {
      throw new CheckpointException(
          stateFile + ": field \"examples\": the checkpoint was trained on " + examples + " items, the data given now has "
              + plan.examples() + " (resume needs the same data)");
    }
    long step = number(state, "step", stateFile).longValue();
    long epoch = number(state, "epoch", stateFile).longValue();
    long position = number(state, "position", stateFile).longValue();
    if (step < 0 || epoch < 0 || position < 0 || position > examples) {
      throw new CheckpointException(stateFile + ": step " + step + ", epoch " + epoch + ", position " + position + " out of range");
    }
    for (CausalLm m : plan.models()) {
      checkResumable("cannot resume from " + dir, m);
    }
    task.loadModels(dir);
    OptimizerMoments.read(dir.resolve(OPTIMIZER), plan.models(), opt);
    opt.restoreCounters(number(state, "optimizer_step", stateFile).longValue(), number(state, "optimizer_skipped", stateFile).longValue());
    Object trainer = state.get("trainer");
    if (!(trainer instanceof Map<?, ?> t)) {
      throw new CheckpointException(stateFile + ": field \"trainer\": expected an object, got " + trainer);
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> trainerState = (Map<String, Object>) t;
    task.restoreState(trainerState, stateFile.toString());
    Object last = state.get("last_loss");
    double lastLoss = last instanceof Number x ? x.doubleValue() : Double.NaN;
    return new Position(step, (int) epoch, (int) position, lastLoss);
  }

  /** {@code m} as JSON reads it back (enums as strings, lists as lists), for comparison with a saved map. */
  private static Map<String, Object> asJson(Map<String, Object> m) {
    return JSON.convertValue(m, new TypeReference<LinkedHashMap<String, Object>>() {});
  }

  private static Map<String, Object> readState(Path dir) {
    Path stateFile = dir.resolve(STATE);
    try {
      return JSON.readValue(stateFile.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      throw new CheckpointException(stateFile + ": cannot read the trainer state: " + e.getMessage(), e);
    }
  }

  /** The number in {@code field} of {@code m}, or a {@link CheckpointException} naming it. */
  public static Number number(Map<String, Object> m, String field, Path file) {
    Object v = m.get(field);
    if (!(v instanceof Number)) {
      throw new CheckpointException(file + ": field \"" + field + "\": expected a number, got " + v);
    }
    return (Number) v;
  }
}
