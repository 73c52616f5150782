package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

class LoraMemoryTest {

  private static LlamaShape shape(String name) {
    return LlamaShape.PUBLISHED.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
  }

  private static List<LinearModule> allLinear(LlamaShape s) {
    return s.linearModules().stream().filter(m -> TargetModules.allLinear().matches(m.name())).toList();
  }

  @Test
  void parameterCountsMatchThePublishedModels() {
    // num_parameters() of the published checkpoints (model cards / transformers), an independent check of the shapes
    assertEquals(134_515_008L, shape("HuggingFaceTB/SmolLM2-135M").parameterCount());
    assertEquals(361_821_120L, shape("HuggingFaceTB/SmolLM2-360M").parameterCount());
    assertEquals(494_032_768L, shape("Qwen/Qwen2.5-0.5B").parameterCount());
    assertEquals(1_235_814_400L, shape("meta-llama/Llama-3.2-1B").parameterCount());
  }

  @Test
  void loraCountsMatchPeftsPrintTrainableParameters() {
    // PEFT's print_trainable_parameters() for r=8 on all linear layers
    assertEquals(2_442_240L, LoraMemory.lora(0, allLinear(shape("HuggingFaceTB/SmolLM2-135M")), 8, DataType.FLOAT).trainedParameters());
    assertEquals(4_399_104L, LoraMemory.lora(0, allLinear(shape("Qwen/Qwen2.5-0.5B")), 8, DataType.FLOAT).trainedParameters());
    assertEquals(5_636_096L, LoraMemory.lora(0, allLinear(shape("meta-llama/Llama-3.2-1B")), 8, DataType.FLOAT).trainedParameters());
    assertEquals(7 * 30, allLinear(shape("HuggingFaceTB/SmolLM2-135M")).size(), "all-linear leaves out lm_head");
  }

  @Test
  void bytesAreWeightsGradientsAndTwoMoments() {
    LoraMemory full = LoraMemory.full(1000, DataType.FLOAT);
    assertEquals(4000, full.weightBytes());
    assertEquals(4000, full.gradientBytes());
    assertEquals(8000, full.optimizerBytes());
    assertEquals(16000, full.totalBytes());
    LoraMemory lora = LoraMemory.lora(1000, List.of(new LinearModule("q", 10, 20)), 2, DataType.FLOAT);
    assertEquals(60, lora.trainedParameters());
    assertEquals(1060 * 4, lora.weightBytes());
    assertEquals(60 * 4, lora.gradientBytes());
    assertEquals(60 * 8, lora.optimizerBytes());
    try (LoraAdapter a =
        LoraAdapter.create(LoraConfig.builder().r(2).targetModules("q").build(), List.of(new LinearModule("q", 10, 20)), Map.of(), 1,
            DataType.DOUBLE)) {
      LoraMemory m = LoraMemory.of(a, 1000);
      assertEquals(60, m.trainedParameters());
      assertEquals(60 * 8, m.gradientBytes(), "a DOUBLE adapter's gradients take 8 bytes each");
    }
  }

  @Test
  void readmeShowsTheComputedTable() throws IOException {
    Path readme = Path.of("..", "README.md");
    if (!Files.exists(readme)) {
      readme = Path.of("README.md");
    }
    String text = Files.readString(readme);
    String table = LoraMemory.markdownTable(LlamaShape.PUBLISHED, 8, 16);
    assertTrue(text.contains(table), "README.md must contain the table LoraMemory.main prints:\n" + table);
  }
}
