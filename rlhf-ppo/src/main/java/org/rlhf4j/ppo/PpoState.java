package org.rlhf4j.ppo;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.io.CheckpointException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * The complete state of a PPO trainer, for exact resume, in the RL trainers' checkpoint format
 * ({@link RlState}): the policy (with its value head), the critic if separate, AdamW's moments and
 * counters, and in {@code trainer_state.json} the step and episode counters, the KL coefficient and
 * the running score moments. A state holding a NaN or infinite number — a parameter, an optimiser
 * moment, beta or a running score moment — is refused, so a diverged run cannot replace the last
 * good checkpoint. Checkpoints of format 1 (before TRL's {@code early_stopping}/{@code target_kl}
 * semantics and the new safeguards) restore into a trainer whose new settings have their defaults.
 */
final class PpoState {
  private static final int FORMAT_VERSION = 2;

  private final RlState files;
  private final KlController kl;
  private final RunningMoments scoreMoments;

  /** The step and episode counters a checkpoint holds. */
  record Counters(long step, long episodes) {}

  PpoState(PpoConfig config, CausalLm policy, CausalLm critic, AdamW optimizer, KlController kl, RunningMoments scoreMoments) {
    this.files = new RlState("PPO", PpoTrainer.PHASE, FORMAT_VERSION, config.seed(), config::toMap,
        critic == null ? List.of("policy") : List.of("policy", "critic"), critic == null ? List.of(policy) : List.of(policy, critic),
        optimizer);
    this.kl = kl;
    this.scoreMoments = scoreMoments;
  }

  /**
   * Writes the state, at {@code counters}, to {@code dir} (replacing it atomically).
   *
   * @throws CheckpointException if the state holds a NaN or infinite number (nothing is written)
   */
  void write(Path dir, Counters counters, Tokenizer tokenizer) {
    double beta = kl.beta();
    if (!Double.isFinite(beta)) {
      throw new CheckpointException(files.refusal(dir) + "the KL coefficient is " + beta);
    }
    double[] m = scoreMoments.state();
    for (double x : m) {
      if (!Double.isFinite(x)) {
        throw new CheckpointException(files.refusal(dir) + "the running score moments are " + Arrays.toString(m));
      }
    }
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("step", counters.step());
    fields.put("episode", counters.episodes());
    fields.put("kl_coef", beta);
    fields.put("score_moments", m);
    files.write(dir, fields, tokenizer);
  }

  /**
   * Overwrites the state with the one written to {@code dir} by {@link #write} (same configuration
   * and model architectures); returns the checkpoint's counters.
   */
  Counters read(Path dir) {
    Map<String, Object> state = files.read(dir, PpoState::savedConfig);
    Path stateFile = dir.resolve(RlState.STATE);
    double beta = RlState.number(state, "kl_coef", stateFile).doubleValue();
    if (!(beta >= 0 && Double.isFinite(beta))) {
      throw new CheckpointException(stateFile + ": field \"kl_coef\": expected a finite number >= 0, got " + beta);
    }
    kl.restore(beta);
    Object moments = state.get("score_moments");
    if (!(moments instanceof List<?> l) || l.size() != 3 || !l.stream().allMatch(x -> x instanceof Number)) {
      throw new CheckpointException(stateFile + ": field \"score_moments\": expected 3 finite numbers, got " + moments);
    }
    double[] ms = {num(l.get(0)), num(l.get(1)), num(l.get(2))};
    try {
      scoreMoments.restore(ms);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(stateFile + ": field \"score_moments\": " + e.getMessage(), e);
    }
    return new Counters(RlState.number(state, "step", stateFile).longValue(), RlState.number(state, "episode", stateFile).longValue());
  }

  /** The saved configuration in today's terms (a format-1 one upgraded). */
  private static Object savedConfig(Map<String, Object> state, Path stateFile) {
    Object saved = state.get("config");
    if (saved instanceof Map<?, ?> m && !(state.get("format_version") instanceof Number v && v.intValue() >= 2)) {
      return upgradeFormat1(m, stateFile);
    }
    return saved;
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

  private static double num(Object o) {
    return ((Number) o).doubleValue();
  }
}
