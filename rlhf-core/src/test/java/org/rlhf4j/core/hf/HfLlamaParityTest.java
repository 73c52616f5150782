package org.rlhf4j.core.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.llama.LlamaDecodeSession;
import org.rlhf4j.core.model.llama.LlamaModel;

/**
 * Logits of every Llama-family fixture (written and computed by transformers 5.17: Llama with
 * grouped-query attention, Llama-3 rope scaling with a tied head, Qwen2 with q/k/v biases, Mistral
 * with one key/value head) at every real position of a left-padded batch, within 1e-4 of
 * transformers' float32 logits: by the full forward pass in float and double, and by prefill +
 * cached decoding of the same tokens.
 */
class HfLlamaParityTest {
  private static final double TOLERANCE = 1e-4;

  private record Ref(TokenBatch batch, double[][][] logits) {}

  private static Ref ref(Path dir) {
    JsonNode r = HfFixtures.json(dir.resolve("ref.json"));
    JsonNode ids = r.get("input_ids");
    JsonNode mask = r.get("attention_mask");
    JsonNode pos = r.get("position_ids");
    int b = ids.size();
    int t = ids.get(0).size();
    int[] idv = new int[b * t];
    int[] mv = new int[b * t];
    for (int i = 0; i < b; i++) {
      int seen = 0;
      for (int j = 0; j < t; j++) {
        idv[i * t + j] = ids.get(i).get(j).asInt();
        mv[i * t + j] = mask.get(i).get(j).asInt();
        seen += mv[i * t + j];
        if (mv[i * t + j] == 1) {
          // the fixture's explicit position_ids are the positions rlhf4j derives from the mask
          assertEquals(seen - 1, pos.get(i).get(j).asInt(), "position_ids[" + i + "][" + j + "]");
        }
      }
    }
    JsonNode lg = r.get("logits_real_positions");
    double[][][] logits = new double[b][t][];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        JsonNode row = lg.get(i).get(j);
        if (row != null && !row.isNull()) {
          logits[i][j] = new double[row.size()];
          for (int v = 0; v < row.size(); v++) {
            logits[i][j][v] = row.get(v).asDouble();
          }
        }
      }
    }
    return new Ref(TokenBatch.of(b, t, idv, mv), logits);
  }

  /** The largest difference at real positions (and that every real position has reference logits). */
  private static double maxDiff(INDArray logits, Ref ref) {
    double max = 0;
    int checked = 0;
    for (int i = 0; i < ref.batch().batchSize(); i++) {
      for (int j = 0; j < ref.batch().length(); j++) {
        if (ref.batch().mask(i, j) == 0) {
          continue;
        }
        double[] want = ref.logits()[i][j];
        assertEquals(logits.size(2), want.length, "vocabulary size");
        for (int v = 0; v < want.length; v++) {
          max = Math.max(max, Math.abs(logits.getDouble(i, j, v) - want[v]));
        }
        checked++;
      }
    }
    assertTrue(checked > ref.batch().length(), "too few real positions checked: " + checked);
    return max;
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama3-rope-scaling-tied", "qwen2", "mistral", "llama-gqa-lora-base", "llama-gqa-lora-merged"})
  void logitsMatchTransformers(String name) {
    Path dir = HfFixtures.require(name);
    Ref ref = ref(dir);
    for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
      try (LlamaModel m = HfLlama.load(dir, new ModelOptions(type, 2)).model()) {
        double diff = maxDiff(m.forward(ref.batch()).logits(), ref);
        assertTrue(diff < TOLERANCE, name + " " + type + ": max |logit - transformers| = " + diff);
      }
    }
  }

  /**
   * A bfloat16 model that transformers' {@code save_pretrained} split into three shards with an
   * index (kept in the test resources; {@code tools/llama_bf16_sharded_fixture.py} wrote it), against
   * transformers' float32 logits of the same bf16 weights. Needs no shared folder.
   */
  @org.junit.jupiter.api.Test
  void bf16ShardsWrittenByTransformers() throws Exception {
    Path dir = Path.of(HfLlamaParityTest.class.getResource("/hf/llama-bf16-sharded/config.json").toURI()).getParent();
    Ref ref = ref(dir);
    try (LlamaModel m = HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model()) {
      assertEquals(org.rlhf4j.core.model.llama.LlamaConfig.Family.LLAMA, m.config().family());
      double diff = maxDiff(m.forward(ref.batch()).logits(), ref);
      assertTrue(diff < TOLERANCE, "bf16 shards: max |logit - transformers| = " + diff);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama3-rope-scaling-tied", "qwen2", "mistral"})
  void cachedDecodingMatchesTransformers(String name) {
    Path dir = HfFixtures.require(name);
    Ref ref = ref(dir);
    TokenBatch all = ref.batch();
    int b = all.batchSize();
    int t = all.length();
    int prompt = 5; // row 1 is left-padded by 3: its prompt holds 2 real tokens
    int[] ids = new int[b * prompt];
    int[] mask = new int[b * prompt];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < prompt; j++) {
        ids[i * prompt + j] = all.id(i, j);
        mask[i * prompt + j] = all.mask(i, j);
      }
    }
    try (LlamaModel m = HfLlama.load(dir, new ModelOptions(DataType.FLOAT, 1)).model();
        LlamaDecodeSession s = m.newDecodeSession(b, t)) {
      INDArray first = s.prefill(TokenBatch.of(b, prompt, ids, mask));
      double max = compareRow(first, ref, prompt - 1);
      for (int j = prompt; j < t; j++) {
        int[] step = new int[b];
        for (int i = 0; i < b; i++) {
          step[i] = all.id(i, j);
        }
        max = Math.max(max, compareRow(s.step(step), ref, j));
      }
      assertTrue(max < TOLERANCE, name + ": cached decoding, max |logit - transformers| = " + max);
    }
  }

  private static double compareRow(INDArray logits, Ref ref, int position) {
    double max = 0;
    for (int i = 0; i < logits.size(0); i++) {
      double[] want = ref.logits()[i][position];
      for (int v = 0; v < want.length; v++) {
        max = Math.max(max, Math.abs(logits.getDouble(i, v) - want[v]));
      }
    }
    return max;
  }
}
