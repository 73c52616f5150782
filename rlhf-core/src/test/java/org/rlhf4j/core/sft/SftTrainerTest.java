package org.rlhf4j.core.sft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.data.SftExample;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.testing.TestData;
import org.rlhf4j.core.tokenizer.ByteTokenizer;
import org.rlhf4j.core.train.Listeners;
import org.rlhf4j.core.train.TrainingArguments;

class SftTrainerTest {
  private static final ByteTokenizer TOK = ByteTokenizer.create();

  private static GptModel tinyModel(long seed, int context) {
    GptConfig c = GptConfig.builder().vocabSize(TOK.vocabSize()).dModel(48).heads(4).layers(2).contextLength(context).build();
    return GptModel.randomInit(c, seed, new ModelOptions(DataType.FLOAT, 2));
  }

  private static final List<SftExample> PAIRS =
      List.of(
          new SftExample("Q: two plus two? A:", " four"),
          new SftExample("Q: capital of France? A:", " Paris"),
          new SftExample("Q: colour of the sky? A:", " blue"),
          new SftExample("Q: opposite of hot? A:", " cold"));

  @Test
  void overfitsAHandfulOfPairs() {
    GptModel model = tinyModel(1, 48);
    SftData data = SftData.fromExamples(PAIRS, TOK, 48, true, true);
    SftConfig cfg = SftConfig.builder().learningRate(3e-3).schedule(TrainingArguments.Schedule.CONSTANT).maxSteps(200).batchSize(4).seed(3).build();
    SftResult r = new SftTrainer(cfg).train(model, data, data, Listeners.none());
    assertTrue(r.finalLoss() < 0.05, "final training loss " + r.finalLoss());
    assertTrue(r.finalEval().get().loss() < 0.05, "final eval loss " + r.finalEval().get().loss());
    assertTrue(r.initialEval().get().loss() > 3, "initial loss " + r.initialEval().get().loss());
    assertEquals(0, r.skippedSteps());
  }

  @Test
  void onlyCompletionTokensAreTargets() {
    SftData data = SftData.fromExamples(List.of(new SftExample("abc", "de")), TOK, 32, true, true);
    TokenizedSequence s = data.get(0);
    // [BOS] a b c d e [EOS]: targets are d, e and EOS only
    assertArrayEquals(new int[] {ByteTokenizer.BOS, 'a', 'b', 'c', 'd', 'e', ByteTokenizer.EOS}, s.ids());
    assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1}, s.targetMask());
    SftData all = SftData.fromExamples(List.of(new SftExample("abc", "de")), TOK, 32, true, false);
    assertArrayEquals(new int[] {0, 1, 1, 1, 1, 1, 1}, all.get(0).targetMask());
  }

  @Test
  void promptPositionsGetExactlyZeroGradient() {
    SequenceBatch batch =
        SequenceBatch.collate(SftData.fromExamples(PAIRS.subList(0, 2), TOK, 48, true, true).head(2).asList(), 0);
    INDArray logp = Nd4j.rand(DataType.FLOAT, batch.targetMask().shape()).subi(2);
    SftLoss.Result r = SftLoss.compute(logp, batch.targetMask());
    INDArray mask = batch.targetMask();
    for (int i = 0; i < mask.size(0); i++) {
      for (int j = 0; j < mask.size(1); j++) {
        if (mask.getDouble(i, j) == 0) {
          assertEquals(0.0, r.gradLogProbs().getDouble(i, j), 0.0, "prompt/pad position " + i + "," + j);
        } else {
          assertEquals(-1.0 / r.targets(), r.gradLogProbs().getDouble(i, j), 1e-7);
        }
      }
    }
  }

  @Test
  void lossByHand() {
    INDArray logp = Nd4j.createFromArray(new double[][] {{-1.0, -2.0, -3.0}, {-0.5, -4.0, -9.0}});
    INDArray mask = Nd4j.createFromArray(new double[][] {{0, 1, 1}, {1, 0, 0}});
    SftLoss.Result r = SftLoss.compute(logp, mask);
    assertEquals((2.0 + 3.0 + 0.5) / 3, r.loss(), 1e-12);
    assertEquals(3, r.targets());
  }

  @Test
  void sameSeedSameModelDifferentSeedDifferentOrder() {
    SftData data = SftData.fromExamples(PAIRS, TOK, 48, true, true);
    SftConfig cfg = SftConfig.builder().learningRate(1e-3).maxSteps(6).batchSize(2).seed(5).build();
    GptModel a = tinyModel(2, 48);
    GptModel b = tinyModel(2, 48);
    GptModel c = tinyModel(2, 48);
    new SftTrainer(cfg).train(a, data, null, null);
    new SftTrainer(cfg).train(b, data, null, null);
    new SftTrainer(SftConfig.builder().learningRate(1e-3).maxSteps(6).batchSize(2).seed(6).build()).train(c, data, null, null);
    assertEquals(a.parameters().flat().array(), b.parameters().flat().array());
    assertNotEquals(a.parameters().flat().array(), c.parameters().flat().array());
  }

  @Test
  void evalPerplexityDecreasesOnTinyShakespeare() throws IOException {
    Path corpus = TestData.require("corpus/tinyshakespeare.txt");
    String text = Files.readString(corpus, StandardCharsets.UTF_8);
    int[] train = TOK.encode(text.substring(0, 200_000));
    int[] heldOut = TOK.encode(text.substring(text.length() - 20_000));
    GptModel model = tinyModel(4, 64);
    SftConfig cfg = SftConfig.builder().learningRate(3e-3).schedule(TrainingArguments.Schedule.COSINE).warmupSteps(10).maxSteps(150).batchSize(16).seed(1).build();
    SftResult r = new SftTrainer(cfg).train(model, SftData.fromCorpus(train, 64), SftData.fromCorpus(heldOut, 64).head(64), null);
    double before = r.initialEval().get().perplexity();
    double after = r.finalEval().get().perplexity();
    assertTrue(before > 100, "a random byte-level model starts near uniform (259): " + before);
    assertTrue(after < 15, "held-out perplexity after 150 steps should fall below 15: " + before + " -> " + after);
  }

  @Test
  void configErrorsNameTheField() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SftConfig.builder().batchSize(0).build());
    assertTrue(e.getMessage().contains("batchSize"), e.getMessage());
    GptModel small = tinyModel(1, 8);
    SftData data = SftData.fromExamples(PAIRS, TOK, 40, true, true);
    Exception tooLong = assertThrows(RuntimeException.class, () -> new SftTrainer(SftConfig.builder().build()).train(small, data, null, null));
    assertTrue(tooLong.getMessage().contains("context length"), tooLong.getMessage());
    assertTrue(Arrays.stream(data.get(0).targetMask()).sum() > 0);
  }

  /** An absurd batch is refused before anything is allocated, with the estimate and the limit. */
  @Test
  void aBatchThatCannotFitIsRefusedUpFrontWithTheNumbers() {
    int[] corpus = new int[64 * 4000];
    for (int i = 0; i < corpus.length; i++) {
      corpus[i] = i % 200;
    }
    SftData data = SftData.fromCorpus(corpus, 64);
    GptModel m = tinyModel(1, 64);
    String old = System.getProperty("rlhf4j.memory.limit");
    System.setProperty("rlhf4j.memory.limit", "1000000000"); // 1 GB, for a machine-independent test
    try {
      org.rlhf4j.core.RlhfException e = assertThrows(org.rlhf4j.core.RlhfException.class,
          () -> new SftTrainer(SftConfig.builder().batchSize(100000).maxSteps(1).build()).train(m, data, null, null));
      assertTrue(e.getMessage().matches("SFT with batchSize 100000 \\(4000 sequences of up to 64 tokens per batch, model .*\\) needs about"
          + " [0-9.]+ GB .* more than the limit set by -Drlhf4j.memory.limit \\(1.00 GB\\); lower batchSize"), e.getMessage());
      // a batch that fits trains as before
      new SftTrainer(SftConfig.builder().batchSize(4).maxSteps(1).build()).train(m, data, null, null);
    } finally {
      if (old == null) {
        System.clearProperty("rlhf4j.memory.limit");
      } else {
        System.setProperty("rlhf4j.memory.limit", old);
      }
      m.close();
    }
  }
}
