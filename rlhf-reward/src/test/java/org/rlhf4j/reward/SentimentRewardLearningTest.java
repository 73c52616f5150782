package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.core.tokenizer.Gpt2BpeTokenizer;
import org.rlhf4j.core.train.LoggingListener;
import org.rlhf4j.reward.data.Ranking;
import org.rlhf4j.reward.data.RatedPair;
import org.rlhf4j.reward.data.RatedPairs;
import org.rlhf4j.reward.data.RatedText;
import org.rlhf4j.reward.data.RatedTexts;

/**
 * Learns from real human judgements: pairs of movie-review sentences whose mean human ratings differ
 * by at least 2 (the higher-rated one preferred), a small reward model (GPT-2 tokenizer, d 64, 2
 * layers) trained from scratch for one epoch of 6,000 pairs, evaluated on 400 pairs of held-out
 * sentences. Measured on 2 cores: 0.818 held-out accuracy (0.47 before training), 375 steps, 29 s.
 */
class SentimentRewardLearningTest {

  static List<Ranking> rankings(List<RatedPair> pairs) {
    List<Ranking> out = new ArrayList<>();
    int i = 0;
    for (RatedPair p : pairs) {
      out.add(Ranking.pairwise("movie-review-snippets.tsv", ++i, "", p.chosen().text(), p.rejected().text()));
    }
    return out;
  }

  static List<RatedText> shortTexts(List<RatedText> texts, int maxChars) {
    return texts.stream().filter(t -> t.text().length() <= maxChars).toList();
  }

  @Test
  void heldOutPairwiseAccuracyWellAboveChance() throws IOException {
    Path tsv = TestData.require("sentiment/movie-review-snippets.tsv");
    RatedTexts.Split split = RatedTexts.split(RatedTexts.read(tsv), 0.15, 7);
    List<Ranking> train = rankings(RatedPairs.sample(shortTexts(split.train(), 100), RatedPairs.Options.of(6000, 1)));
    List<Ranking> heldOut = rankings(RatedPairs.sample(shortTexts(split.heldOut(), 100), RatedPairs.Options.of(400, 2)));
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromDirectory(TestData.require("gpt2/encoder.json").getParent());
    GptConfig c = GptConfig.builder().vocabSize(tok.vocabSize()).dModel(64).heads(4).layers(2).contextLength(48).build();
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 2)), 2);
    RewardConfig cfg = RewardConfig.builder().learningRate(1e-3).warmupSteps(20).epochs(1).promptsPerBatch(16).seed(3).maxLength(48).build();
    RewardResult r = new RewardTrainer(cfg).train(rm, tok, train, heldOut, new LoggingListener(50));
    double acc = r.finalEval().get().accuracy();
    System.out.printf("reward model: held-out pairwise accuracy %.3f (before %.3f) on %d pairs, %d steps in %.1f s%n",
        acc, r.initialEval().get().accuracy(), r.finalEval().get().pairs(), r.steps(), r.seconds());
    assertTrue(acc > 0.70, "held-out pairwise accuracy should be well above chance (0.5): measured " + acc);
  }
}
