package org.rlhf4j.core.sft;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.MemoryEstimate;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.optim.AdamW;
import org.rlhf4j.core.optim.StepOutcome;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.Metrics;
import org.rlhf4j.core.train.SupervisedLoop;
import org.rlhf4j.core.train.TrainerCheckpoint;
import org.rlhf4j.core.train.TrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Supervised fine-tuning (and pre-training) of a causal LM: minimises the mean negative
 * log-likelihood of the target tokens of {@link SftData} — the completions of prompt/completion
 * pairs, or every token of a text — with AdamW. The data order comes from {@link SftConfig#seed()},
 * so a run is reproducible. Reports {@code loss}, {@code learning_rate}, {@code grad_norm}, {@code
 * epoch}, {@code num_tokens} per step and {@code eval/loss}, {@code eval/perplexity} per evaluation.
 */
public final class SftTrainer {
  /** The phase name reported to listeners. */
  public static final String PHASE = "sft";

  private static final Logger LOG = LoggerFactory.getLogger(SftTrainer.class);

  /** The phase name for pre-training on plain text ({@link #withPhase}). */
  public static final String PRETRAIN_PHASE = "pretrain";

  private final SftConfig config;
  private final ImmutableList<TrainingListener> listeners;
  private final String phase;
  private final Path checkpointDir; // null: no periodic checkpoints
  private final int checkpointEvery;
  private final Path resumeFrom; // null: a fresh run

  /** A trainer with {@code config}. */
  public SftTrainer(SftConfig config) {
    this(config, ImmutableList.of(), PHASE, null, 0, null);
  }

  private SftTrainer(SftConfig config, ImmutableList<TrainingListener> listeners, String phase, Path checkpointDir, int checkpointEvery, Path resumeFrom) {
    this.config = checkNotNull(config, "config");
    this.listeners = listeners;
    this.phase = phase;
    this.checkpointDir = checkpointDir;
    this.checkpointEvery = checkpointEvery;
    this.resumeFrom = resumeFrom;
  }

  /**
   * This trainer continuing, exactly, the run whose periodic checkpoint ({@link #withCheckpoints})
   * is {@code dir}: {@code train} loads the checkpoint's weights into the model it is given (which
   * must have the same architecture), restores AdamW's moments and counters, the step and the
   * position in the data order, and runs the remaining steps; metrics and weights are bit-identical
   * to the uninterrupted run's. The configuration, phase and training data must be the same; a
   * different configuration is a {@link org.rlhf4j.core.io.CheckpointException} naming only the
   * differing keys. The evaluation before training is not repeated.
   */
  public SftTrainer resumeFrom(Path dir) {
    checkNotNull(dir, "dir");
    return new SftTrainer(config, listeners, phase, checkpointDir, checkpointEvery, dir);
  }

  /**
   * This trainer writing its state to {@code dir} every {@code every} steps, replacing the previous
   * one atomically: the model as a {@link ModelCheckpoint} (its extra fields hold {@code kind}, the
   * phase, and {@code step}) plus the optimiser state and position for {@link #resumeFrom} (see
   * {@link TrainerCheckpoint}).
   */
  public SftTrainer withCheckpoints(Path dir, int every) {
    checkNotNull(dir, "dir");
    checkArgument(every >= 1, "checkpoint interval must be >= 1, got %s", every);
    return new SftTrainer(config, listeners, phase, dir, every, resumeFrom);
  }

  /** This trainer with {@code listener} added (called after the ones already added). */
  public SftTrainer withListener(TrainingListener listener) {
    checkNotNull(listener, "listener");
    return new SftTrainer(config, ImmutableList.<TrainingListener>builder().addAll(listeners).add(listener).build(), phase, checkpointDir, checkpointEvery, resumeFrom);
  }

  /**
   * This trainer reporting its metrics under {@code phase} instead of {@value #PHASE}, e.g. {@link
   * #PRETRAIN_PHASE} when it pre-trains on a corpus.
   */
  public SftTrainer withPhase(String phase) {
    checkArgument(phase != null && !phase.isBlank(), "phase must not be blank, got %s", phase);
    return new SftTrainer(config, listeners, phase, checkpointDir, checkpointEvery, resumeFrom);
  }

  /** The phase name reported to listeners ({@value #PHASE} unless set by {@link #withPhase}). */
  public String phase() {
    return phase;
  }

  /**
   * Tokenizes prompt/completion pairs with this configuration's {@link SftConfig#maxLength()},
   * {@link SftConfig#addBos()}, {@link SftConfig#completionOnlyLoss()} and {@link SftConfig#truncation()} (the single source of
   * those settings; see {@link SftData#fromExamples}).
   */
  public SftData tokenize(List<SftExample> examples, Tokenizer tokenizer) {
    return SftData.fromExamples(examples, tokenizer, config.maxLength(), config.addBos(), config.completionOnlyLoss(), config.truncation());
  }

  /**
   * Tokenizes {@code examples} like {@link #tokenize} (with at most the model's context length) and
   * trains {@code model} in place on them.
   */
  public SftResult train(CausalLm model, List<SftExample> examples, Tokenizer tokenizer) {
    int maxLength = Math.min(config.maxLength(), model.contextLength());
    SftData data = SftData.fromExamples(examples, tokenizer, maxLength, config.addBos(), config.completionOnlyLoss(), config.truncation());
    if (data.truncated() + data.dropped() > 0) {
      LOG.info("examples longer than {} tokens: {} truncated, {} skipped", maxLength, data.truncated(), data.dropped());
    }
    return train(model, data);
  }

  /** Trains {@code model} in place on {@code train}, without evaluation. */
  public SftResult train(CausalLm model, SftData train) {
    return train(model, train, null, null);
  }

  /** Trains {@code model} in place on {@code train}, evaluating on {@code eval}. */
  public SftResult train(CausalLm model, SftData train, SftData eval) {
    return train(model, train, checkNotNull(eval, "eval (use train(model, data) for none)"), null);
  }

  /** The configuration. */
  public SftConfig config() {
    return config;
  }

  /**
   * Trains {@code model} in place on {@code train}, evaluating on {@code eval} (may be null).
   *
   * @deprecated nullable positional arguments: use {@link #train(CausalLm, SftData)}, {@link
   *     #train(CausalLm, SftData, SftData)} and {@link #withListener}.
   */
  @Deprecated
  public SftResult train(CausalLm model, SftData train, SftData eval, TrainingListener listener) {
    checkNotNull(model, "model");
    checkNotNull(train, "train");
    checkLengths(model, train);
    if (eval != null) {
      checkLengths(model, eval);
    }
    List<TrainingListener> all = new ArrayList<>(listeners);
    if (listener != null) {
      all.add(listener);
    }
    TrainingListener l = Listeners.of(all);
    int n = train.size();
    int b = Math.min(config.batchSize(), n);
    checkMemory(model, b, train, eval);
    long stepsPerEpoch = (n + b - 1) / b;
    long total = config.maxSteps() > 0 ? config.maxSteps() : config.epochs() * stepsPerEpoch;
    List<Metrics> evals = new ArrayList<>();
    long start = System.nanoTime();
    l.onStart(phase, total);
    List<SftEvaluation> initial = new ArrayList<>(1);
    long[] tokens = {0};
    SupervisedLoop.Task task =
        new SupervisedLoop.Task() {
          @Override
          public Map<String, Double> step(AdamW opt, int[] indices, double epoch) {
            List<TokenizedSequence> seqs = new ArrayList<>(indices.length);
            for (int i : indices) {
              seqs.add(train.get(i));
            }
            long t0 = System.nanoTime();
            SequenceBatch batch = SequenceBatch.collate(seqs, 0);
            model.zeroGradients();
            ForwardPass pass = model.forward(batch.tokens());
            INDArray logp = pass.tokenLogProbs(1.0).logProbs(); // [B, T-1]
            SftLoss.Result loss = SftLoss.compute(logp, batch.targetMask());
            pass.backward(OutputGradients.ofLogProbs(loss.gradLogProbs()));
            StepOutcome o = opt.step(loss.loss());
            double secs = (System.nanoTime() - t0) / 1e9;
            tokens[0] += loss.targets();
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("loss", loss.loss());
            m.put("learning_rate", o.learningRate());
            m.put("grad_norm", o.gradNorm());
            m.put("epoch", epoch);
            m.put("num_tokens", (double) tokens[0]);
            m.put("tokens_per_second", loss.targets() / secs);
            m.put("skipped_steps", (double) o.skippedTotal());
            return m;
          }

          @Override
          public void evaluate(long step) {
            SftEvaluation e = SftTrainer.evaluate(model, eval, config.batchSize());
            if (step == 0) {
              initial.add(e);
            }
            evals.add(report(l, step, e));
          }

          @Override
          public Map<String, Object> state() {
            return Map.of("num_tokens", tokens[0]);
          }

          @Override
          public void restoreState(Map<String, Object> state, String source) {
            tokens[0] = TrainerCheckpoint.number(state, "num_tokens", Path.of(source)).longValue();
          }

          @Override
          public void writeModels(Path dir, long step) throws IOException {
            ModelCheckpoint.writeFiles(dir, model, Provenance.of(phase, config.seed(), config.toMap(), null), Map.of("kind", phase, "step", step), null);
          }

          @Override
          public void loadModels(Path dir) {
            ModelCheckpoint.loadInto(dir, model);
          }
        };
    SupervisedLoop.Plan plan =
        new SupervisedLoop.Plan(phase, phase, config.toMap(), List.of(model), config.optimizer(total), n, b, total, config.evalEvery(), eval != null, config.seed());
    SupervisedLoop.Outcome out =
        SupervisedLoop.run(plan, task, l, new SplittableRandom(config.seed()), checkpointDir, checkpointEvery, resumeFrom);
    long done = out.steps();
    Optional<SftEvaluation> fin = Optional.empty();
    if (eval != null) {
      fin = Optional.of(evaluate(model, eval, config.batchSize()));
      evals.add(report(l, done, fin.get()));
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    Map<String, Double> summary = new LinkedHashMap<>();
    summary.put("loss", out.lastLoss());
    summary.put("train_runtime", seconds);
    summary.put("skipped_steps", (double) out.skippedSteps());
    fin.ifPresent(e -> summary.put("eval/perplexity", e.perplexity()));
    l.onEnd(Metrics.of(phase, done, summary));
    return new SftResult(
        done,
        out.skippedSteps(),
        out.lastLoss(),
        tokens[0],
        seconds,
        initial.stream().findFirst(),
        fin,
        ImmutableList.copyOf(evals),
        ImmutableMap.copyOf(config.toMap()));
  }

  /** The mean negative log-likelihood and perplexity of {@code model} on {@code data}. */
  public static SftEvaluation evaluate(CausalLm model, SftData data, int batchSize) {
    checkArgument(batchSize >= 1, "batchSize must be >= 1");
    double nll = 0;
    long count = 0;
    for (int i = 0; i < data.size(); i += batchSize) {
      List<TokenizedSequence> seqs = new ArrayList<>();
      for (int j = i; j < Math.min(data.size(), i + batchSize); j++) {
        seqs.add(data.get(j));
      }
      SequenceBatch batch = SequenceBatch.collate(seqs, 0);
      INDArray logp = model.forward(batch.tokens()).tokenLogProbs(1.0).logProbs();
      INDArray mask = batch.targetMask().castTo(logp.dataType());
      nll -= logp.mul(mask).sumNumber().doubleValue();
      count += (long) mask.sumNumber().doubleValue();
    }
    double loss = nll / Math.max(count, 1);
    return new SftEvaluation(loss, Math.exp(loss), count);
  }

  private Metrics report(TrainingListener l, long step, SftEvaluation e) {
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("eval/loss", e.loss());
    m.put("eval/perplexity", e.perplexity());
    Metrics metrics = Metrics.of(phase, step, m);
    l.onEvaluation(metrics);
    return metrics;
  }

  /**
   * Refuses (before anything is allocated) a batch whose activations, with the gradients and AdamW's
   * moments, cannot fit in memory; the message names the estimate and the limit.
   */
  private void checkMemory(CausalLm model, int batch, SftData train, SftData eval) {
    int longest = 0;
    for (SftData d : eval == null ? List.of(train) : List.of(train, eval)) {
      for (int i = 0; i < d.size(); i++) {
        longest = Math.max(longest, d.get(i).length());
      }
    }
    int evalBatch = eval == null ? 0 : Math.min(config.batchSize(), eval.size());
    long activations = MemoryEstimate.activationBytes(model, Math.max(batch, evalBatch), longest);
    long state = MemoryEstimate.parameterBytes(model, 2 + Math.min(model.options().threads(), batch));
    long bytes = activations > Long.MAX_VALUE - state ? Long.MAX_VALUE : activations + state;
    MemoryEstimate.check(
        "SFT with batchSize " + config.batchSize() + " (" + Math.max(batch, evalBatch) + " sequences of up to " + longest + " tokens per batch, model "
            + model + ")",
        bytes,
        "lower batchSize");
  }

  private static void checkLengths(CausalLm model, SftData data) {
    int ctx = model.contextLength();
    for (int i = 0; i < data.size(); i++) {
      if (data.get(i).length() > ctx) {
        throw new RlhfException(
            "training sequence " + i + " has " + data.get(i).length() + " tokens, more than the model's context length "
                + ctx + " (build the data with maxLength <= " + ctx + ")");
      }
    }
  }

}
