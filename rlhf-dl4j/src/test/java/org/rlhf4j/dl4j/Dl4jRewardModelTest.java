package org.rlhf4j.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.ppo.PpoConfig;
import org.rlhf4j.ppo.PpoStats;
import org.rlhf4j.ppo.PpoTrainer;

/**
 * A DL4J classifier trained in the test on a simple rule (a response is "good" when most of its
 * characters are lowercase letters) scores responses through {@link Dl4jRewardModel} exactly as the
 * network does, and drives PPO.
 */
class Dl4jRewardModelTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();
  private static MultiLayerNetwork net;

  /** The application's featurization: character-class fractions of the response. */
  static INDArray features(String response) {
    double lower = 0;
    double upper = 0;
    double digit = 0;
    double n = Math.max(1, response.length());
    for (char c : response.toCharArray()) {
      lower += Character.isLowerCase(c) ? 1 : 0;
      upper += Character.isUpperCase(c) ? 1 : 0;
      digit += Character.isDigit(c) ? 1 : 0;
    }
    return Nd4j.createFromArray(new float[] {(float) (lower / n), (float) (upper / n), (float) (digit / n), (float) ((n - lower - upper - digit) / n)});
  }

  static boolean rule(String response) {
    return features(response).getDouble(0) > 0.5;
  }

  static String randomText(Random r) {
    String[] alphabets = {"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " .,!?"};
    double pLower = r.nextDouble();
    StringBuilder sb = new StringBuilder();
    int len = 4 + r.nextInt(9);
    for (int i = 0; i < len; i++) {
      String a = r.nextDouble() < pLower ? alphabets[0] : alphabets[1 + r.nextInt(3)];
      sb.append(a.charAt(r.nextInt(a.length())));
    }
    return sb.toString();
  }

  @BeforeAll
  static void trainTheApplicationsClassifier() {
    Random r = new Random(1);
    int n = 400;
    INDArray x = Nd4j.create(DataType.FLOAT, n, 4);
    INDArray y = Nd4j.create(DataType.FLOAT, n, 2);
    for (int i = 0; i < n; i++) {
      String s = randomText(r);
      x.putRow(i, features(s));
      y.putScalar(i, rule(s) ? 1 : 0, 1.0);
    }
    MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
        .seed(1)
        .updater(new Adam(0.05))
        .weightInit(WeightInit.XAVIER)
        .list()
        .layer(new DenseLayer.Builder().nIn(4).nOut(8).activation(Activation.TANH).build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(2).activation(Activation.SOFTMAX).build())
        .build();
    net = new MultiLayerNetwork(conf);
    net.init();
    for (int epoch = 0; epoch < 300; epoch++) {
      net.fit(x, y);
    }
  }

  private static Dl4jRewardModel textModel(OutputSelector output) {
    return Dl4jRewardModel.builder()
        .network(net)
        .featurizer(Featurizer.ofText((prompt, response) -> features(response)))
        .output(output)
        .tokenizer(TOK)
        .build();
  }

  private static TokenBatch responses(List<String> texts) {
    return TokenBatch.rightPadded(texts.stream().map(TOK::encode).toList(), TOK.padId());
  }

  @Test
  void scoresAreTheNetworksAndOrderResponsesAsItDoes() {
    Random r = new Random(2);
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      texts.add(randomText(r));
    }
    INDArray x = Nd4j.create(DataType.FLOAT, texts.size(), 4);
    for (int i = 0; i < texts.size(); i++) {
      x.putRow(i, features(texts.get(i)));
    }
    INDArray netOut = net.output(x, false); // [40, 2]
    double[] pGood = netOut.getColumn(1).castTo(DataType.DOUBLE).toDoubleVector();
    double[] pBad = netOut.getColumn(0).castTo(DataType.DOUBLE).toDoubleVector();
    double[] scores = textModel(OutputSelector.probability(1)).score(responses(texts)).toDoubleVector();
    assertArrayEquals(pGood, scores, 1e-6, "the adapter's probability is the network's");
    double[] logit = textModel(OutputSelector.logitDifference(1, 0)).score(responses(texts)).toDoubleVector();
    int ordered = 0;
    for (int i = 0; i < texts.size(); i++) {
      for (int j = 0; j < texts.size(); j++) {
        if (pGood[i] < pGood[j] - 1e-6) { // float probabilities saturate at 1: compare clear orderings only
          assertTrue(logit[i] < logit[j], "the logit difference orders " + texts.get(i) + " below " + texts.get(j) + " as the network does");
          ordered++;
        }
      }
    }
    assertTrue(ordered > 100, "enough ordered pairs to compare: " + ordered);
    double[] column = textModel(OutputSelector.column(0)).score(responses(texts)).toDoubleVector();
    for (int i = 0; i < texts.size(); i++) {
      assertEquals(pBad[i], column[i], 1e-7);
      assertEquals(Math.log(pGood[i]) - Math.log(pBad[i]), logit[i], 1e-9 * Math.max(1, Math.abs(logit[i])));
    }
    long agree = IntStream.range(0, texts.size()).filter(i -> (pGood[i] > 0.5) == rule(texts.get(i))).count();
    assertTrue(agree >= 36, "the test network learned its rule: " + agree + " of 40");
    ComputationGraph graph = net.toComputationGraph();
    Dl4jRewardModel viaGraph = Dl4jRewardModel.builder()
        .graph(graph, 0)
        .featurizer(Featurizer.ofText((prompt, response) -> features(response)))
        .output(OutputSelector.probability(1))
        .tokenizer(TOK)
        .build();
    assertArrayEquals(pGood, viaGraph.score(responses(texts)).toDoubleVector(), 1e-5, "a ComputationGraph scores the same");
  }

  @Test
  void thePromptIsSplitOffAtResponseStart() {
    // "XYZ" left-padded prompt then the response: only the response is featurized
    int[] prompt = TOK.encode("XYZ");
    int[] resp = TOK.encode("abc");
    int t = 1 + prompt.length + resp.length;
    int[] ids = new int[t];
    int[] mask = new int[t];
    ids[0] = TOK.padId();
    System.arraycopy(prompt, 0, ids, 1, prompt.length);
    System.arraycopy(resp, 0, ids, 1 + prompt.length, resp.length);
    Arrays.fill(mask, 1, t, 1);
    List<String> seen = new ArrayList<>();
    Dl4jRewardModel m = Dl4jRewardModel.builder()
        .network(net)
        .featurizer(Featurizer.ofText((p, s) -> {
          seen.add(p + "|" + s);
          return features(s);
        }))
        .output(OutputSelector.probability(1))
        .tokenizer(TOK)
        .build();
    double split = m.score(TokenBatch.of(1, t, ids, mask), 1 + prompt.length).getDouble(0);
    assertEquals("XYZ|abc", seen.get(0));
    double whole = m.score(TokenBatch.of(1, t, ids, mask)).getDouble(0);
    assertEquals("|XYZabc", seen.get(1));
    assertTrue(split > whole, "all-lowercase response scores above the mixed-case whole: " + split + " vs " + whole);
    // a token featurizer sees the ids, no tokenizer needed
    Dl4jRewardModel byIds = Dl4jRewardModel.builder()
        .network(net)
        .featurizer(Featurizer.ofTokens((p, s) -> features(new String(toBytes(s), StandardCharsets.UTF_8))))
        .output(OutputSelector.probability(1))
        .build();
    assertEquals(split, byIds.score(TokenBatch.of(1, t, ids, mask), 1 + prompt.length).getDouble(0), 1e-9);
  }

  private static byte[] toBytes(int[] ids) {
    byte[] b = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) {
      b[i] = (byte) ids[i];
    }
    return b;
  }

  @Test
  void misuseIsNamed() {
    IllegalStateException s = assertThrows(IllegalStateException.class, () -> Dl4jRewardModel.builder()
        .network(net).featurizer(Featurizer.ofText((p, r) -> features(r))).output(OutputSelector.column(0)).build());
    assertTrue(s.getMessage().contains("needs a tokenizer"), s.getMessage());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> textModel(OutputSelector.column(5)).score(responses(List.of("abc"))));
    assertTrue(e.getMessage().contains("column 5 does not exist"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> OutputSelector.probability(0).select(Nd4j.createFromArray(new double[][] {{0.2, 0.3}})));
    assertTrue(e.getMessage().contains("row 0 of the network's output sums to 0.5"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Dl4jRewardModel.builder()
        .network(net)
        .featurizer(Featurizer.ofTokens((p, r) -> Nd4j.zeros(DataType.FLOAT, r.length)))
        .output(OutputSelector.column(0))
        .build()
        .score(responses(List.of("abc", "de"))));
    assertTrue(e.getMessage().contains("for row 1 but [1, 3] for row 0"), e.getMessage());
    RlhfException nan = assertThrows(RlhfException.class, () -> Dl4jRewardModel.builder()
        .network(net)
        .featurizer(Featurizer.ofTokens((p, r) -> Nd4j.createFromArray(new float[] {Float.NaN, 0, 0, 0})))
        .output(OutputSelector.column(0))
        .build()
        .score(responses(List.of("abc"))));
    assertTrue(nan.getMessage().contains("row 0 is not finite"), nan.getMessage());
  }

  @Test
  void drivesPpo() {
    Dl4jRewardModel rm = textModel(OutputSelector.logitDifference(1, 0));
    GptConfig cfg = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(16).heads(2).layers(1).contextLength(24).build();
    GptModel reference = GptModel.randomInit(cfg, 3, new ModelOptions(DataType.FLOAT, 1));
    GptModel policy = reference.withNewScalarHead(3);
    PpoConfig ppo = PpoConfig.builder().learningRate(1e-3).rolloutBatchSize(4).miniBatchSize(4).maxNewTokens(8).seed(3).build();
    List<PpoStats> stats = new ArrayList<>();
    try (PpoTrainer t = PpoTrainer.builder(ppo).policy(policy).reference(reference).rewardModel(rm).tokenizer(TOK).build()) {
      for (int i = 0; i < 2; i++) {
        stats.add(t.step(List.of("Hi", "A", "The", "So")));
      }
    }
    assertEquals(2, stats.size());
    for (PpoStats s : stats) {
      assertTrue(Double.isFinite(s.meanScore()) && Double.isFinite(s.kl()), "finite PPO statistics from the DL4J reward: " + s.meanScore());
    }
  }

}
