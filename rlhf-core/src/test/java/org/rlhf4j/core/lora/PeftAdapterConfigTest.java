package org.rlhf4j.core.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rlhf4j.core.tokenizer.HfFixtures;

class PeftAdapterConfigTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A minimal valid adapter_config.json, as PEFT 0.21 writes it (its many inactive fields included). */
  private static ObjectNode minimal() throws Exception {
    return (ObjectNode)
        JSON.readTree(
            "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"q_proj\",\"v_proj\"],"
                + "\"lora_dropout\":0.0,\"bias\":\"none\",\"fan_in_fan_out\":false,\"use_rslora\":false,"
                + "\"use_dora\":false,\"rank_pattern\":{},\"alpha_pattern\":{},\"layers_to_transform\":null,"
                + "\"modules_to_save\":null,\"task_type\":\"CAUSAL_LM\",\"peft_version\":\"0.21.0\","
                + "\"megatron_core\":\"megatron.core\",\"qalora_group_size\":16,\"loftq_config\":{}}");
  }

  private static LoraConfig parse(ObjectNode o) {
    return PeftAdapterConfig.parse(o.toString(), "dir/adapter_config.json");
  }

  @Test
  void readsTheFixtureWrittenByPeft() {
    Path file = HfFixtures.require("llama-gqa-lora-adapter/adapter_config.json");
    LoraConfig c = PeftAdapterConfig.read(file);
    assertEquals(4, c.r());
    assertEquals(8.0, c.alpha());
    assertEquals(2.0, c.scale());
    assertTrue(c.targetModules().isList());
    assertEquals(List.of("gate_proj", "q_proj", "k_proj", "up_proj", "o_proj", "v_proj", "down_proj"), c.targetModules().names());
    assertEquals(0.0, c.dropout());
    assertFalse(c.fanInFanOut());
    assertFalse(c.useRslora());
    assertEquals(LoraInit.RANDOM, c.init(), "init_lora_weights false");
    assertTrue(c.inferenceMode());
    assertEquals(Optional.empty(), c.taskType());
    assertEquals(Optional.empty(), c.baseModelNameOrPath());
    assertTrue(c.modulesToSave().isEmpty());
  }

  @Test
  void roundTripsEveryField(@TempDir Path dir) throws Exception {
    LoraConfig c =
        LoraConfig.builder()
            .r(16)
            .alpha(32)
            .targetModules(TargetModules.regex(".*\\.(q|v)_proj"))
            .excludeModules(TargetModules.of("model.layers.0.self_attn.q_proj"))
            .dropout(0.05)
            .fanInFanOut(true)
            .useRslora(true)
            .modulesToSave(List.of("score"))
            .taskType("SEQ_CLS")
            .baseModelNameOrPath("HuggingFaceTB/SmolLM2-135M")
            .init(LoraInit.GAUSSIAN)
            .inferenceMode(false)
            .build();
    Path f = dir.resolve("adapter_config.json");
    PeftAdapterConfig.write(f, c);
    assertEquals(c, PeftAdapterConfig.read(f));
    ObjectNode o = (ObjectNode) JSON.readTree(Files.readString(f));
    assertEquals("LORA", o.get("peft_type").textValue());
    assertEquals(32, o.get("lora_alpha").intValue(), "an integral alpha is written as an integer, as PEFT does");
    assertTrue(o.get("lora_alpha").isIntegralNumber());
    assertEquals(".*\\.(q|v)_proj", o.get("target_modules").textValue());
    assertEquals("none", o.get("bias").textValue());
    assertEquals("gaussian", o.get("init_lora_weights").textValue());
    // a list survives as a list, in order; all-linear as PEFT's string
    LoraConfig list = c.toBuilder().targetModules("v_proj", "q_proj").build();
    assertEquals(list, PeftAdapterConfig.parse(PeftAdapterConfig.toJson(list), "x"));
    LoraConfig all = c.toBuilder().targetModules(TargetModules.allLinear()).build();
    assertEquals("all-linear", JSON.readTree(PeftAdapterConfig.toJson(all)).get("target_modules").textValue());
    assertEquals(all, PeftAdapterConfig.parse(PeftAdapterConfig.toJson(all), "x"));
  }

  @Test
  void scaleIsAlphaOverROrOverSqrtRWithRslora() {
    LoraConfig c = LoraConfig.builder().r(16).alpha(8).targetModules("q_proj").build();
    assertEquals(0.5, c.scale());
    assertEquals(2.0, c.toBuilder().useRslora(true).build().scale());
  }

  @Test
  void refusesUnsupportedFeaturesNamingFieldAndValue() throws Exception {
    Object[][] cases = {
      {"bias", "\"all\""},
      {"bias", "\"lora_only\""},
      {"use_dora", "true"},
      {"lora_bias", "true"},
      {"rank_pattern", "{\"q_proj\":8}"},
      {"alpha_pattern", "{\"q_proj\":8}"},
      {"layers_to_transform", "[0,1]"},
      {"target_parameters", "[\"experts.gate_up_proj\"]"},
      {"trainable_token_indices", "[1,2]"},
      {"layer_replication", "[[0,2]]"},
      {"use_qalora", "true"},
      {"loftq_config", "{\"loftq_bits\":4}"},
      {"init_lora_weights", "\"pissa\""},
      {"task_type", "\"SEQ_2_SEQ_LM\""},
      {"peft_type", "\"PREFIX_TUNING\""},
      {"r", "0"},
      {"r", "\"4\""},
      {"r", "2.5"},
      {"lora_alpha", "-1"},
      {"lora_dropout", "1.0"},
      {"fan_in_fan_out", "\"yes\""},
      {"target_modules", "[]"},
      {"target_modules", "\"(unclosed\""},
      {"modules_to_save", "\"score\""},
    };
    for (Object[] c : cases) {
      ObjectNode o = minimal();
      o.set((String) c[0], JSON.readTree((String) c[1]));
      AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> parse(o), c[0] + " = " + c[1]);
      assertTrue(e.getMessage().startsWith("dir/adapter_config.json: "), e.getMessage());
      assertTrue(e.getMessage().contains((String) c[0]) || e.getMessage().contains("task_type"), e.getMessage());
      if (!c[0].equals("r") && !c[0].equals("lora_alpha") && !c[0].equals("target_modules")) {
        assertTrue(e.getMessage().contains(JSON.readTree((String) c[1]).toString()), "names the value: " + e.getMessage());
      }
    }
  }

  @Test
  void refusesMissingFieldsAndBadJson() throws Exception {
    for (String field : new String[] {"peft_type", "r", "lora_alpha", "target_modules"}) {
      ObjectNode o = minimal();
      o.remove(field);
      AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> parse(o));
      assertTrue(e.getMessage().contains("\"" + field + "\" is missing"), e.getMessage());
    }
    AdapterFormatException dup =
        assertThrows(AdapterFormatException.class, () -> PeftAdapterConfig.parse("{\"r\":4,\"r\":8}", "f.json"));
    assertTrue(dup.getMessage().startsWith("f.json: not valid JSON"), dup.getMessage());
    assertThrows(AdapterFormatException.class, () -> PeftAdapterConfig.parse("[1,2]", "f.json"));
    assertThrows(AdapterFormatException.class, () -> PeftAdapterConfig.parse("{\"r\":4} trailing", "f.json"));
    AdapterFormatException missing =
        assertThrows(AdapterFormatException.class, () -> PeftAdapterConfig.read(Path.of("/nonexistent/adapter_config.json")));
    assertTrue(missing.getMessage().contains("/nonexistent/adapter_config.json"), missing.getMessage());
  }

  @Test
  void inactiveAndUnknownFieldsAreAccepted() throws Exception {
    ObjectNode o = minimal();
    o.putNull("eva_config");
    o.put("use_bdlora", false);
    o.put("some_future_field", 3); // unknown: logged, not refused
    o.put("layers_pattern", "layers"); // meaningless without layers_to_transform
    LoraConfig c = parse(o);
    assertEquals(4, c.r());
    assertEquals(Optional.of("CAUSAL_LM"), c.taskType());
  }

  @Test
  void targetModulesMatchLikePeft() {
    TargetModules list = TargetModules.of("q_proj", "v_proj");
    assertTrue(list.matches("model.layers.0.self_attn.q_proj"));
    assertTrue(list.matches("q_proj"));
    assertFalse(list.matches("model.layers.0.self_attn.qq_proj"), "a suffix must start at a dot");
    assertFalse(list.matches("model.layers.0.self_attn.k_proj"));
    TargetModules regex = TargetModules.regex(".*layers\\.1\\..*_proj");
    assertTrue(regex.matches("model.layers.1.mlp.up_proj"));
    assertFalse(regex.matches("model.layers.10.mlp.up_proj"));
    assertFalse(TargetModules.regex("q_proj").matches("model.layers.0.self_attn.q_proj"), "a regex must match the whole name");
    TargetModules all = TargetModules.regex("all-linear");
    assertTrue(all.isAllLinear());
    assertTrue(all.matches("model.layers.0.mlp.down_proj"));
    assertFalse(all.matches("lm_head"));
    LoraConfig c =
        LoraConfig.builder().targetModules(all).excludeModules(TargetModules.regex(".*\\.0\\..*")).build();
    assertFalse(c.targets("model.layers.0.mlp.down_proj"));
    assertTrue(c.targets("model.layers.1.mlp.down_proj"));
  }

  @Test
  void builderNamesTheBadField() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().r(0).targetModules("q").build());
    assertTrue(e.getMessage().contains("r must be"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().build());
    assertTrue(e.getMessage().contains("target_modules"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().targetModules("q").dropout(-0.1).build());
    assertTrue(e.getMessage().contains("lora_dropout"), e.getMessage());
  }
}
