package org.rlhf4j.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.train.EarlyStopping;
import org.rlhf4j.core.train.Metrics;

/** Early stopping of PPO and the entropy-collapse and runaway-KL warnings. */
class PpoTrainingControlTest {
  @Test
  void warningsFireOnceEachAtTheirThresholds() {
    List<String> out = new ArrayList<>();
    PpoWarnings w = PpoWarnings.defaults().to(out::add);
    w.onStep(Metrics.of("ppo", 1, Map.of("policy/entropy_avg", 2.0, "objective/kl", 5.0, "response_length_mean", 10.0)));
    assertEquals(List.of(), out, "healthy: 2 nats of entropy, 0.5 nats of KL per token");
    w.onStep(Metrics.of("ppo", 2, Map.of("policy/entropy_avg", 0.05, "objective/kl", 5.0, "response_length_mean", 10.0)));
    assertEquals(1, out.size());
    assertTrue(out.get(0).startsWith("PPO step 2: entropy collapse"), out.get(0));
    w.onStep(Metrics.of("ppo", 3, Map.of("policy/entropy_avg", 0.01, "objective/kl", 30.0, "response_length_mean", 10.0)));
    assertEquals(2, out.size(), "entropy warned once; KL now");
    assertTrue(out.get(1).startsWith("PPO step 3: runaway KL: 3.00 nats per response token"), out.get(1));
    assertEquals(out, w.issued());
  }

  @Test
  void theTrainerWarnsAndAListenerCanStopIt() {
    GptModel sft = PpoTrainerTest.sftModel();
    List<String> out = new ArrayList<>();
    EarlyStopping stop = EarlyStopping.maximize("objective/scores", 3);
    try (PpoTrainer t = PpoTrainer.builder(PpoTrainerTest.config().build()).policy(sft.withNewScalarHead(3)).reference(sft)
        .rewardModel(new PpoTrainerTest.CountTarget()).tokenizer(new DigitTokenizer()).prompts(PpoTrainerTest.prompts())
        .warnings(PpoWarnings.of(100, 1e-9).to(out::add)).listener(stop).build()) {
      List<PpoStats> stats = t.train(30);
      assertTrue(stats.size() < 30, "stopped when the score did not rise: " + stats.size() + " steps");
      assertEquals(stop.stoppedAt(), stats.get(stats.size() - 1).step());
      assertEquals(stats.size(), t.stepCount());
      System.out.println("PPO early stopping: stopped after " + stats.size() + " of 30 steps");
    }
    assertEquals(2, out.size(), "each warning once: " + out);
  }
}
