package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.data.DataFormatException;
import org.rlhf4j.core.io.Provenance;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.GradientCheck;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.reward.data.Ranking;

class RewardModelTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();

  private static GptModel policy(DataType type, long seed) {
    GptConfig c = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(8).heads(2).layers(1).contextLength(12).build();
    return GptModel.randomInit(c, seed, new ModelOptions(type, 2));
  }

  @Test
  void scalarHeadInitAndScoreAtTheLastRealToken() {
    GptModel p = policy(DataType.FLOAT, 1);
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(p, 3);
    INDArray w = rm.model().parameters().get("scalar_head.weight").array();
    double std = w.stdNumber().doubleValue();
    assertTrue(std > 0.15 && std < 0.55, "head weights ~ N(0, 1/sqrt(9)): std " + std);
    assertEquals(0.0, rm.model().parameters().get("scalar_head.bias").array().getDouble(0), 0);
    assertEquals(p.parameters().get("wte").array(), rm.model().parameters().get("wte").array(), "backbone copied");
    // right padding must not change a score: it is read at the last real token
    TokenBatch padded = TokenBatch.rightPadded(List.of(new int[] {1, 2, 3}, new int[] {4, 5, 6, 7, 8}), TOK.padId());
    TokenBatch alone = TokenBatch.unpadded(new int[][] {{1, 2, 3}});
    assertEquals(rm.score(alone).getDouble(0), rm.score(padded).getDouble(0), 1e-5);
    TokenBatch left = TokenBatch.leftPadded(List.of(new int[] {1, 2, 3}, new int[] {4, 5, 6, 7, 8}), TOK.padId());
    assertEquals(rm.score(alone).getDouble(0), rm.score(left).getDouble(0), 1e-5);
  }

  @Test
  void criticCopyGivesTheNormalisedScoreAtEveryPrefix() {
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(policy(DataType.DOUBLE, 5), 6);
    rm.model().parameters().get("scalar_head.bias").array().assign(0.3);
    rm.setNormalization(0.2, -1.5);
    int[][] rows = {{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}};
    try (var critic = rm.criticCopy(new ModelOptions(DataType.DOUBLE, 2))) {
      INDArray values = critic.forward(TokenBatch.unpadded(rows)).values(); // [B, T]
      for (int i = 0; i < rows.length; i++) {
        for (int t = 1; t <= rows[i].length; t++) {
          TokenBatch prefix = TokenBatch.unpadded(new int[][] {java.util.Arrays.copyOf(rows[i], t)});
          assertEquals(rm.score(prefix).getDouble(0), values.getDouble(i, t - 1), 1e-9, "row " + i + ", prefix of " + t);
        }
      }
      // a copy: training the critic leaves the reward model alone
      critic.parameters().flat().array().addi(1);
    }
    assertEquals(0.3, rm.model().parameters().get("scalar_head.bias").array().getDouble(0), 0);
    assertEquals(0.2, rm.gain(), 0);
  }

  @Test
  void rankingLossGradientThroughTheScalarHeadMatchesFiniteDifferences() {
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(policy(DataType.DOUBLE, 2), 4);
    rm.model().parameters().flat().array().muli(4);
    TokenBatch batch = TokenBatch.rightPadded(List.of(new int[] {1, 2, 3, 4}, new int[] {5, 6}, new int[] {7, 8, 9}), TOK.padId());
    int[] win = {0, 0, 2};
    int[] lose = {1, 2, 1};
    double[] wt = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    rm.model().zeroGradients();
    TransformerRewardModel.ScoredPass pass = rm.forward(batch);
    pass.backward(RankingLoss.compute(pass.scores(), win, lose, wt, 0.1, 0.05).gradScores());
    for (String name : List.of("scalar_head.weight", "scalar_head.bias", "ln_f.weight", "h.0.attn.c_attn.weight", "wte", "wpe")) {
      INDArray grad = rm.model().gradients().get(name).array().dup();
      GradientCheck.assertMatches(
          name,
          rm.model().parameters().get(name).array(),
          grad,
          () -> RankingLoss.compute(rm.forward(batch).scores(), win, lose, wt, 0.1, 0.05).loss(),
          1e-5);
    }
    assertTrue(rm.model().parameters().layout().entries().stream().map(ParameterLayout.Entry::name).anyMatch(n -> n.equals("scalar_head.bias")));
  }

  @Test
  void normalisationGivesReferencesMeanZeroStdOne(@TempDir Path tmp) {
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(policy(DataType.FLOAT, 3), 5);
    List<int[]> refs = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      refs.add(new int[] {1 + i, 2 + 2 * i % 7, 3 + i % 5, 100 + i});
    }
    TokenBatch ref = TokenBatch.rightPadded(refs, TOK.padId());
    rm.normalizeTo(ref);
    INDArray s = rm.score(ref);
    assertEquals(0.0, s.meanNumber().doubleValue(), 1e-4);
    assertEquals(1.0, s.stdNumber().doubleValue(), 1e-4);
    Path dir = tmp.resolve("rm");
    rm.save(dir, Provenance.of("reward", 5, Map.of(), null), TOK);
    TransformerRewardModel back = TransformerRewardModel.load(dir, new ModelOptions(DataType.FLOAT, 1));
    assertEquals(rm.gain(), back.gain(), 0);
    assertEquals(rm.bias(), back.bias(), 0);
    assertEquals(0.0, back.score(ref).sub(s).amaxNumber().doubleValue(), 1e-5);
  }

  /** Scores already computed (e.g. while sampling) normalise without scoring again; constant ones are refused. */
  @Test
  void normalisationFromRawScoresUsesTheSampleStandardDeviation() {
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(policy(DataType.FLOAT, 3), 5);
    double[] raw = {1.0, 2.0, 4.0, 9.0};
    double[] ms = rm.normalizeTo(raw);
    double mean = 4.0;
    double std = Math.sqrt((9 + 4 + 0 + 25) / 3.0);
    assertEquals(mean, ms[0], 1e-12);
    assertEquals(std, ms[1], 1e-12);
    assertEquals(1 / std, rm.gain(), 1e-12);
    assertEquals(-mean / std, rm.bias(), 1e-12);
    RlhfException e = assertThrows(RlhfException.class, () -> rm.normalizeTo(new double[] {3, 3, 3}));
    assertTrue(e.getMessage().contains("standard deviation 0.0"), e.getMessage());
    assertEquals(1 / std, rm.gain(), 1e-12, "a refused normalisation leaves the old one");
  }

  @Test
  void responseLongerThanTheContextNamesTheRecord() {
    Ranking r = Ranking.of("prefs.jsonl", 17, "a prompt", List.of("short", "this response is far too long"), List.of(0, 1));
    DataFormatException e = assertThrows(DataFormatException.class, () -> TokenizedRanking.of(r, TOK, 20, true, true));
    assertTrue(e.getMessage().startsWith("prefs.jsonl:17:") && e.getMessage().contains("response 1"), e.getMessage());
  }

  @Test
  void trainerRefusesAnEmptyTrainingSetWithTheNumbers() {
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(policy(DataType.FLOAT, 1), 2);
    RewardTrainer trainer = RewardTrainer.builder(RewardConfig.builder().evalFraction(0.5).build()).build();
    IllegalArgumentException empty =
        assertThrows(IllegalArgumentException.class, () -> trainer.train(rm, TOK, List.of()));
    assertTrue(empty.getMessage().contains("train list is empty"), empty.getMessage());
    List<Ranking> one = List.of(Ranking.of("f", 1, "p", List.of("good", "bad"), List.of(0, 1)));
    IllegalArgumentException allHeldOut =
        assertThrows(IllegalArgumentException.class, () -> trainer.train(rm, TOK, one));
    assertTrue(
        allHeldOut.getMessage().contains("1 given, 1 held out") && allHeldOut.getMessage().contains("evalFraction 0.5"),
        allHeldOut.getMessage());
  }

  @Test
  void badRankingsAreClearErrors() {
    assertThrows(DataFormatException.class, () -> Ranking.of("f", 3, "p", List.of("a", "b", "c"), List.of(0, 0, 1)));
    assertThrows(DataFormatException.class, () -> Ranking.of("f", 3, "p", List.of("a", "b", "c"), List.of(0, 1)));
    assertThrows(DataFormatException.class, () -> Ranking.of("f", 3, "p", List.of("a", " "), List.of(0, 1)));
    DataFormatException e = assertThrows(DataFormatException.class, () -> Ranking.of("f", 4, "p", List.of("a"), List.of(0)));
    assertTrue(e.getMessage().startsWith("f:4:"), e.getMessage());
  }

  @Test
  void evaluatorCountsPairsAndExactRankings() {
    // A rule: longer responses score higher.
    RewardModel byLength = seq -> {
      double[] s = new double[seq.batchSize()];
      for (int i = 0; i < s.length; i++) {
        s[i] = seq.realTokens(i);
      }
      return Nd4j.createFromArray(s);
    };
    List<TokenizedRanking> data =
        List.of(
            TokenizedRanking.of(Ranking.of("t", 1, "p", List.of("aaa", "a", "aa"), List.of(0, 2, 1)), TOK, 32, true, true),
            TokenizedRanking.of(Ranking.of("t", 2, "p", List.of("aaa", "a", "aa"), List.of(1, 2, 0)), TOK, 32, true, true));
    RewardEvaluation e = RewardEvaluator.evaluate(byLength, data, TOK, 1);
    assertEquals(6, e.pairs());
    assertEquals(0.5, e.accuracy(), 1e-12);
    assertEquals(0.5, e.exactRankings(), 1e-12);
    assertEquals(0.0, e.meanMargin(), 1e-12);
  }
}
