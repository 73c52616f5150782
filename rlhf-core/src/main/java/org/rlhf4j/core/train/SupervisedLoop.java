package org.rlhf4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.AdamWConfig;

/**
 * The epoch loop shared by the supervised trainers (SFT, pre-training, reward modelling): batches
 * of {@code batchSize} indices over {@code examples} items in an order drawn from a seeded
 * generator (a new permutation every epoch), one AdamW step per batch, an evaluation every {@code
 * evalEvery} steps, periodic checkpoints and stop requests from the listeners.
 *
 * <p><b>Exact resume.</b> A periodic checkpoint ({@link TrainerCheckpoint}) holds the model(s), AdamW's
 * moments and counters, the step and the position in the data order (epoch and index), the
 * trainer's own counters, its configuration and seed, and the library version. The data order
 * needs no generator state: it is replayed from the seed (one permutation per epoch). A run resumed
 * from the checkpoint of step k therefore produces the same metrics and weights, bit for bit, as
 * the uninterrupted run from step k+1 on. A configuration, data size or trainer kind that differs
 * from the checkpoint's is refused, naming only what differs.
 */
public final class SupervisedLoop {
  /** What a trainer plugs into the loop. */
  public interface Task {
    /**
     * Trains one batch and returns the step's metrics (they must hold {@code loss}).
     *
     * @param batch indices of the training items, in order
     * @param epoch the fractional epoch reached after this batch, for the {@code epoch} metric
     */
    Map<String, Double> step(AdamW optimizer, int[] batch, double epoch);

    /** Evaluates (and reports) at {@code step}; called only when {@link Plan#hasEval()}. */
    void evaluate(long step);

    /** The trainer's own counters at a checkpoint, as JSON numbers (e.g. tokens seen); none by default. */
    default Map<String, Object> state() {
      return Map.of();
    }

    /** Restores {@link #state()}; {@code source} names the file in errors. Nothing to restore by default. */
    default void restoreState(Map<String, Object> state, String source) {}

    /** Writes the trained model(s), as of {@code step}, as a checkpoint into the fresh directory {@code dir}. */
    void writeModels(Path dir, long step) throws IOException;

    /** Overwrites the trained model(s) with those of the checkpoint in {@code dir}. */
    void loadModels(Path dir);
  }

  /**
   * The fixed settings of one run.
   *
   * @param phase the phase name of the step metrics, e.g. {@code sft}
   * @param kind the trainer kind recorded in (and required of) checkpoints, e.g. {@code sft} or
   *     {@code reward_model}
   * @param config the trainer's configuration (its {@code toMap()}), compared on resume
   * @param models the models AdamW updates, in order
   * @param examples the number of training items
   * @param batchSize items per step (at most {@code examples} are used)
   * @param totalSteps planned steps
   * @param evalEvery steps between evaluations (0: only before and after training)
   * @param hasEval whether there is evaluation data
   * @param seed the run's seed (recorded in checkpoints)
   */
  public record Plan(
      String phase,
      String kind,
      Map<String, Object> config,
      List<CausalLm> models,
      AdamWConfig optimizer,
      int examples,
      int batchSize,
      long totalSteps,
      int evalEvery,
      boolean hasEval,
      long seed) {
    public Plan {
      checkArgument(phase != null && !phase.isBlank(), "phase must not be blank");
      checkArgument(kind != null && !kind.isBlank(), "kind must not be blank");
      config = ImmutableMap.copyOf(checkNotNull(config, "config"));
      models = ImmutableList.copyOf(checkNotNull(models, "models"));
      checkNotNull(optimizer, "optimizer");
      checkArgument(examples >= 1, "no training examples");
      checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
      checkArgument(totalSteps >= 0, "totalSteps must be >= 0, got %s", totalSteps);
      checkArgument(evalEvery >= 0, "evalEvery must be >= 0, got %s", evalEvery);
    }
  }

  /**
   * What a run did.
   *
   * @param steps the last step run (fewer than planned if a listener stopped training)
   * @param skippedSteps optimiser steps skipped for non-finite gradients (the whole run, resumed
   *     steps included)
   * @param lastLoss the loss of the last step ({@code NaN} if none ran)
   * @param resumedFrom the step the run resumed after (0 for a fresh run)
   */
  public record Outcome(long steps, long skippedSteps, double lastLoss, long resumedFrom) {}

  private SupervisedLoop() {}

  /**
   * Runs {@code plan} from step 1, or, with {@code resumeFrom} non-null, from the step after that
   * checkpoint's. Evaluates at step 0 only for a fresh run; the final evaluation, {@code onStart}
   * and {@code onEnd} are the caller's.
   *
   * @param rng the generator of the data order, seeded with the run's seed (and advanced the same
   *     way on every run, e.g. by an evaluation split)
   * @param checkpointDir where to write a checkpoint every {@code checkpointEvery} steps, or null
   * @param resumeFrom a checkpoint written by this loop to continue from, or null
   */
  public static Outcome run(
      Plan plan,
      Task task,
      TrainingListener listener,
      SplittableRandom rng,
      Path checkpointDir,
      int checkpointEvery,
      Path resumeFrom) {
    checkNotNull(plan, "plan");
    checkNotNull(task, "task");
    checkNotNull(listener, "listener");
    checkNotNull(rng, "rng");
    checkArgument(checkpointDir == null || checkpointEvery >= 1, "checkpoint interval must be >= 1, got %s", checkpointEvery);
    int n = plan.examples();
    int b = Math.min(plan.batchSize(), n);
    long total = plan.totalSteps();
    int[] order = Permutations.random(n, rng);
    int pos = 0;
    int epoch = 0;
    long first = 1;
    double lastLoss = Double.NaN;
    try (AdamW opt = AdamW.over(plan.optimizer(), plan.models())) {
      if (resumeFrom != null) {
        TrainerCheckpoint.Position p = TrainerCheckpoint.restore(resumeFrom, plan, opt, task);
        checkArgument(
            p.step() <= total,
            "%s: the checkpoint is at step %s, after the %s planned steps",
            resumeFrom,
            p.step(),
            total);
        for (int e = 0; e < p.epoch(); e++) {
          order = Permutations.random(n, rng); // replay the data order up to the checkpoint's epoch
        }
        epoch = p.epoch();
        pos = p.position();
        lastLoss = p.lastLoss();
        first = p.step() + 1;
      } else if (plan.hasEval()) {
        task.evaluate(0);
      }
      long done = total;
      for (long step = first; step <= total; step++) {
        if (pos >= n) {
          order = Permutations.random(n, rng);
          pos = 0;
          epoch++;
        }
        int[] batch = new int[Math.min(b, n - pos)];
        for (int i = 0; i < batch.length; i++) {
          batch[i] = order[pos++];
        }
        Map<String, Double> m = task.step(opt, batch, epoch + (double) pos / n);
        Double loss = m.get("loss");
        checkArgument(loss != null, "the step's metrics hold no \"loss\": %s", m.keySet());
        lastLoss = loss;
        listener.onStep(Metrics.of(plan.phase(), step, m));
        if (plan.hasEval() && plan.evalEvery() > 0 && step % plan.evalEvery() == 0 && step < total) {
          task.evaluate(step);
        }
        if (checkpointDir != null && step % checkpointEvery == 0) {
          TrainerCheckpoint.write(checkpointDir, plan, opt, task, new TrainerCheckpoint.Position(step, epoch, pos, lastLoss));
        }
        if (step < total && listener.stopRequested()) {
          done = step; // a listener ended training here
          break;
        }
      }
      if (first > total) {
        done = first - 1;
      }
      return new Outcome(done, opt.skippedCount(), lastLoss, first - 1);
    }
  }
}
