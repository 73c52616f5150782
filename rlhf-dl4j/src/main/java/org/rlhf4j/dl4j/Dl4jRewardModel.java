package org.rlhf4j.dl4j;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.RewardModel;

/**
 * An application's existing DeepLearning4J classifier — a {@link MultiLayerNetwork} or a {@link
 * ComputationGraph} — as a {@link RewardModel}, so PPO (or an evaluation) can optimise against it
 * without rewriting it. Each (prompt, response) row is turned into the network's input by a {@link
 * Featurizer}, the rows are stacked into one batch, the network runs in inference mode, and an
 * {@link OutputSelector} picks the reward from its output: a column, the probability of a class or
 * the logit difference of two classes.
 *
 * <pre>{@code
 * RewardModel rm = Dl4jRewardModel.builder()
 *     .network(sentimentNet)                                   // the application's classifier
 *     .featurizer(Featurizer.ofText((prompt, response) -> myFeatures(response)))
 *     .output(OutputSelector.logitDifference(1, 0))            // positive minus negative
 *     .tokenizer(tokenizer)                                    // needed for text featurizers
 *     .build();
 * }</pre>
 *
 * <p>With {@link #score(TokenBatch, int)} (what PPO calls) the prompt is the real tokens before
 * {@code responseStart} and the response those from it; {@link #score(TokenBatch)} treats every real
 * token as the response and the prompt as empty. Scoring is synchronized (DL4J networks are not
 * safe for concurrent inference). A non-finite network output is an error naming the row, so it
 * never reaches PPO's statistics.
 */
public final class Dl4jRewardModel implements RewardModel {
  private final Function<INDArray, INDArray> network;
  private final DataType inputType;
  private final Featurizer featurizer;
  private final OutputSelector output;
  private final Optional<Tokenizer> tokenizer;

  private Dl4jRewardModel(Builder b) {
    network = b.network;
    inputType = b.inputType;
    featurizer = b.featurizer;
    output = b.output;
    tokenizer = Optional.ofNullable(b.tokenizer);
  }

  /** A builder; a network, a featurizer and an output selector are required. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public INDArray score(TokenBatch sequences) {
    return score(sequences, 0);
  }

  @Override
  public synchronized INDArray score(TokenBatch sequences, int responseStart) {
    checkNotNull(sequences, "sequences");
    checkArgument(
        responseStart >= 0 && responseStart <= sequences.length(),
        "responseStart %s outside [0, %s]",
        responseStart,
        sequences.length());
    List<ScoredSample> samples = new ArrayList<>(sequences.batchSize());
    for (int b = 0; b < sequences.batchSize(); b++) {
      samples.add(new ScoredSample(realTokens(sequences, b, 0, responseStart), realTokens(sequences, b, responseStart, sequences.length()), tokenizer));
    }
    return Nd4j.createFromArray(scoreSamples(samples));
  }

  /** The rewards of {@code samples}, {@code [B]}, e.g. to score texts outside a {@link TokenBatch}. */
  public synchronized double[] scoreSamples(List<ScoredSample> samples) {
    checkArgument(!samples.isEmpty(), "no samples to score");
    List<INDArray> rows = new ArrayList<>(samples.size());
    long[] shape = null;
    for (int b = 0; b < samples.size(); b++) {
      INDArray f = featurizer.features(samples.get(b));
      if (f == null) {
        throw new RlhfException("the featurizer returned null for row " + b);
      }
      INDArray row = f.rank() == 1 ? f.reshape(1, f.length()) : f;
      checkArgument(row.size(0) == 1, "the featurizer must return [n] or [1, ...] for one sample; row %s has shape %s", b, Arrays.toString(f.shape()));
      if (shape == null) {
        shape = row.shape();
      } else {
        checkArgument(
            Arrays.equals(shape, row.shape()),
            "the featurizer returned shape %s for row %s but %s for row 0; every row must have the same shape",
            Arrays.toString(row.shape()),
            b,
            Arrays.toString(shape));
      }
      rows.add(row.castTo(inputType));
    }
    INDArray input = rows.size() == 1 ? rows.get(0) : Nd4j.concat(0, rows.toArray(new INDArray[0])); // [B, ...]
    INDArray out = network.apply(input); // [B, nOut]
    checkState(out.size(0) == samples.size(), "the network returned %s rows for %s inputs", out.size(0), samples.size());
    double[] rewards = output.select(out);
    for (int b = 0; b < rewards.length; b++) {
      if (!Double.isFinite(rewards[b])) {
        throw new RlhfException("the DL4J network's reward for row " + b + " is not finite (" + rewards[b] + "); output row " + out.getRow(b));
      }
    }
    return rewards;
  }

  private static int[] realTokens(TokenBatch s, int b, int from, int to) {
    int n = 0;
    for (int t = from; t < to; t++) {
      n += s.mask(b, t);
    }
    int[] out = new int[n];
    int i = 0;
    for (int t = from; t < to; t++) {
      if (s.mask(b, t) == 1) {
        out[i++] = s.id(b, t);
      }
    }
    return out;
  }

  /** Builds a {@link Dl4jRewardModel}. */
  public static final class Builder {
    private Function<INDArray, INDArray> network;
    private DataType inputType;
    private Featurizer featurizer;
    private OutputSelector output;
    private Tokenizer tokenizer;

    private Builder() {}

    /** The classifier, run with {@code output(input, false)}. */
    public Builder network(MultiLayerNetwork net) {
      checkNotNull(net, "net");
      checkArgument(net.getLayers() != null, "the MultiLayerNetwork is not initialised: call init() or load it first");
      network = x -> net.output(x, false);
      inputType = net.params().dataType();
      return this;
    }

    /** A single-input graph; the reward comes from its output number {@code outputIndex}. */
    public Builder graph(ComputationGraph graph, int outputIndex) {
      checkNotNull(graph, "graph");
      checkArgument(graph.getVertices() != null, "the ComputationGraph is not initialised: call init() or load it first");
      checkArgument(
          graph.getNumInputArrays() == 1, "the graph has %s inputs; the adapter feeds exactly one", graph.getNumInputArrays());
      checkArgument(
          outputIndex >= 0 && outputIndex < graph.getNumOutputArrays(),
          "outputIndex %s outside [0, %s)",
          outputIndex,
          graph.getNumOutputArrays());
      network = x -> graph.output(false, x)[outputIndex];
      inputType = graph.params().dataType();
      return this;
    }

    /** How a (prompt, response) becomes the network's input. */
    public Builder featurizer(Featurizer v) {
      featurizer = checkNotNull(v, "featurizer");
      return this;
    }

    /** Which output is the reward. */
    public Builder output(OutputSelector v) {
      output = checkNotNull(v, "output");
      return this;
    }

    /** Decodes ids to texts for the featurizer (required by {@link Featurizer#ofText}). */
    public Builder tokenizer(Tokenizer v) {
      tokenizer = checkNotNull(v, "tokenizer");
      return this;
    }

    /** The reward model; {@link IllegalStateException} names a missing part. */
    public Dl4jRewardModel build() {
      checkState(network != null, "no network: call network(MultiLayerNetwork) or graph(ComputationGraph, outputIndex)");
      checkState(featurizer != null, "no featurizer");
      checkState(output != null, "no output selector (OutputSelector.column / probability / logitDifference)");
      checkState(tokenizer != null || !featurizer.needsText(), "a text featurizer needs a tokenizer: call tokenizer(...)");
      return new Dl4jRewardModel(this);
    }
  }
}
