package org.rlhf4j.ppo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.sft.SequenceBatch;
import org.rlhf4j.core.sft.SftData;
import org.rlhf4j.core.sft.SftLoss;
import org.rlhf4j.core.sft.TokenizedSequence;
import org.rlhf4j.core.train.Permutations;

/**
 * PPO's optimisation stage: {@code ppoEpochs} passes over shuffled minibatches of a {@link PpoBatch},
 * each with the clipped policy loss, the clipped value loss times {@code vfCoef}, the optional
 * entropy bonus and PPO-ptx term ({@link PpoLosses}); a minibatch beyond {@code ratioThreshold},
 * {@code maxApproxKl} or {@code maxValueLoss} is not applied, and TRL's early stop on the policy KL
 * ends the epochs. Unusual updates are reported as warnings.
 */
final class PpoUpdate {
  /** Without a {@code maxApproxKl} bound, a minibatch approx-KL above this is reported as a warning. */
  static final double WARN_APPROX_KL = 1.0;

  /** Without a {@code maxValueLoss} bound, a minibatch value loss above this is reported as a warning. */
  static final double WARN_VALUE_LOSS = 1e4;

  private final PpoConfig config;
  private final CausalLm policy;
  private final CausalLm critic; // null: the policy's value head
  private final AdamW optimizer;
  private final SftData ptxData; // null: no PPO-ptx
  private final int padId;

  PpoUpdate(PpoConfig config, CausalLm policy, CausalLm critic, AdamW optimizer, SftData ptxData, int padId) {
    this.config = config;
    this.policy = policy;
    this.critic = critic;
    this.optimizer = optimizer;
    this.ptxData = ptxData;
    this.padId = padId;
  }

  /** Runs the epochs on {@code batch}; returns the minibatch averages and adds warnings to {@code warnings}. */
  Map<String, Double> run(PpoBatch batch, SplittableRandom rng, List<String> warnings) {
    Rollout r = batch.rollout;
    int b = r.batchSize();
    int p = r.promptLength;
    int width = p + r.steps;
    MinibatchStats acc = new MinibatchStats();
    double maxApproxKl = 0;
    double maxValueLoss = 0;
    double maxRatio = 0;
    epochs:
    for (int epoch = 0; epoch < config.ppoEpochs(); epoch++) {
      int[] perm = Permutations.random(b, rng);
      for (int start = 0; start < b; start += config.miniBatchSize()) {
        int[] idx = Arrays.copyOfRange(perm, start, Math.min(b, start + config.miniBatchSize()));
        int[] len = ResponseTokens.rows(r.length, idx);
        TokenBatch sub = r.sequences.select(idx);
        zeroGradients();
        ForwardPass pass = policy.forward(sub);
        TokenLogProbs lp = pass.tokenLogProbs(config.temperature());
        double[][] newLogp = ResponseTokens.gather(lp.logProbs(), p, r.steps);
        double[][] newEnt = ResponseTokens.gather(lp.entropy(), p, r.steps);
        ForwardPass criticPass = critic == null ? pass : critic.forward(sub);
        double[][] newValues = ResponseTokens.gather(criticPass.values(), p, r.steps);
        PpoLosses.PolicyLoss pl = PpoLosses.policy(
            newLogp, ResponseTokens.rows(r.logProbs, idx), ResponseTokens.rows(batch.advantages, idx), len, config.clipRange());
        PpoLosses.ValueLoss vl = PpoLosses.value(
            newValues, ResponseTokens.rows(r.values, idx), ResponseTokens.rows(batch.returns, idx), len, config.clipRangeValue());
        PpoLosses.Mean ent = PpoLosses.mean(newEnt, len);
        double loss = pl.loss() + config.vfCoef() * vl.loss() - config.entropyCoef() * ent.value();
        INDArray gLogp = ResponseTokens.scatter(pl.gradLogProbs(), p, width - 1, policy.dataType());
        INDArray gEnt = config.entropyCoef() > 0
            ? ResponseTokens.scatter(ent.grad(), p, width - 1, policy.dataType()).muli(-config.entropyCoef())
            : null;
        INDArray gVal = ResponseTokens.scatter(vl.gradValues(), p, width, policy.dataType()).muli(config.vfCoef());
        if (critic == null) {
          pass.backward(new OutputGradients(gLogp, gEnt, gVal, null));
        } else {
          pass.backward(new OutputGradients(gLogp, gEnt, null, null));
          criticPass.backward(OutputGradients.ofValues(gVal));
        }
        double ptxLoss = config.ptxCoef() > 0 && ptxData != null ? ptxUpdate(rng) : Double.NaN;
        if (!Double.isNaN(ptxLoss)) {
          loss += config.ptxCoef() * ptxLoss;
        }
        maxApproxKl = Math.max(maxApproxKl, pl.approxKl());
        maxValueLoss = Math.max(maxValueLoss, vl.loss());
        maxRatio = Math.max(maxRatio, pl.meanRatio());
        MinibatchStats.Skip skip = skipOf(pl, vl);
        StepOutcome o = skip == MinibatchStats.Skip.NONE ? optimizer.step(loss) : null;
        acc.add(pl, vl, ent.value(), ptxLoss, o, skip);
        if (config.earlyStopTargetKl() > 0 && pl.policyKl() > 1.5 * config.earlyStopTargetKl()) {
          acc.earlyStopped = true; // TRL: stop when mean(logp_old - logp) > 1.5 target_kl
          break epochs;
        }
      }
    }
    zeroGradients(); // gradients of a skipped minibatch must not linger
    warn(acc, maxRatio, maxApproxKl, maxValueLoss, batch, warnings);
    return acc.averages();
  }

  private void zeroGradients() {
    policy.zeroGradients();
    if (critic != null) {
      critic.zeroGradients();
    }
  }

  /** Whether a minibatch is not applied: TRL's ratio_threshold, or the configured approx-KL / value-loss bounds. */
  private MinibatchStats.Skip skipOf(PpoLosses.PolicyLoss pl, PpoLosses.ValueLoss vl) {
    if (config.ratioThreshold() > 0 && pl.meanRatio() > config.ratioThreshold()) {
      return MinibatchStats.Skip.RATIO;
    }
    if ((config.maxApproxKl() > 0 && pl.approxKl() > config.maxApproxKl())
        || (config.maxValueLoss() > 0 && vl.loss() > config.maxValueLoss())) {
      return MinibatchStats.Skip.BOUND;
    }
    return MinibatchStats.Skip.NONE;
  }

  private void warn(MinibatchStats acc, double maxRatio, double maxApproxKl, double maxValueLoss, PpoBatch batch, List<String> warnings) {
    if (acc.skippedRatio() > 0) {
      warnings.add(acc.skippedRatio() + " minibatch(es) skipped: mean ratio up to " + fmt(maxRatio) + " > ratioThreshold "
          + config.ratioThreshold());
    }
    if (acc.skippedBounds() > 0) {
      warnings.add(acc.skippedBounds() + " minibatch(es) skipped by maxApproxKl " + config.maxApproxKl() + " / maxValueLoss "
          + config.maxValueLoss() + " (approx-KL up to " + fmt(maxApproxKl) + ", value loss up to " + fmt(maxValueLoss) + ")");
    }
    if (acc.skippedNonFinite() > 0) {
      warnings.add(acc.skippedNonFinite() + " update(s) skipped: NaN or infinite loss or gradient");
    }
    if (config.maxApproxKl() == 0 && maxApproxKl > WARN_APPROX_KL) {
      warnings.add("approx-KL of a minibatch reached " + fmt(maxApproxKl) + " nats (the learning rate may be too high; bound"
          + " updates with PpoConfig.maxApproxKl)");
    }
    if (config.maxValueLoss() == 0 && maxValueLoss > WARN_VALUE_LOSS) {
      warnings.add("value loss reached " + fmt(maxValueLoss) + " (scores of magnitude up to " + fmt(maxAbs(batch.scores))
          + "; bound them with scoreClip or scoreScaling, or skip such updates with PpoConfig.maxValueLoss)");
    }
  }

  /** PPO-ptx: adds {@code ptxCoef * grad(LM loss)} on a pre-training batch; returns the LM loss. */
  private double ptxUpdate(SplittableRandom rng) {
    List<TokenizedSequence> seqs = new ArrayList<>();
    for (int i = 0; i < config.ptxBatchSize(); i++) {
      seqs.add(ptxData.get(rng.nextInt(ptxData.size())));
    }
    SequenceBatch batch = SequenceBatch.collate(seqs, padId);
    ForwardPass pass = policy.forward(batch.tokens());
    SftLoss.Result lm = SftLoss.compute(pass.tokenLogProbs(1.0).logProbs(), batch.targetMask());
    pass.backward(OutputGradients.ofLogProbs(lm.gradLogProbs().muli(config.ptxCoef())));
    return lm.loss();
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%.4g", v);
  }

  private static double maxAbs(double[] xs) {
    double m = 0;
    for (double x : xs) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }
}
