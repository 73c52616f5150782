package org.rlhf4j.reward;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

/** A closed {@link TransformerRewardModel} refuses every use instead of touching freed memory. */
class RewardModelCloseTest {
  private static void refused(Executable use) {
    IllegalStateException e = assertThrows(IllegalStateException.class, use);
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }

  @Test
  void aClosedRewardModelRefusesEveryUse(@TempDir Path tmp) {
    GptConfig c = GptConfig.builder().vocabSize(7).dModel(8).heads(2).layers(1).contextLength(8).build();
    GptModel base = GptModel.randomInit(c, 1, new ModelOptions(DataType.FLOAT, 1));
    TransformerRewardModel rm = TransformerRewardModel.fromPolicy(base, 2);
    TokenBatch batch = TokenBatch.leftPadded(List.of(new int[] {1, 2, 3}), 0);
    rm.score(batch);
    rm.close();
    rm.close(); // idempotent
    refused(() -> rm.score(batch));
    refused(() -> rm.rawScores(batch));
    refused(() -> rm.forward(batch));
    refused(() -> rm.normalizeTo(batch));
    refused(rm::model);
    refused(() -> rm.save(tmp.resolve("rm"), null, null));
    base.close();
  }
}
