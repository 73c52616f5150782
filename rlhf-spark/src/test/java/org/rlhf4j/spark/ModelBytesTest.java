package org.rlhf4j.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tokenizer.Tokenizer;
import org.rlhf4j.reward.TransformerRewardModel;

/** The broadcast encodings of models and tokenizers, and the executors' model cache, without Spark. */
class ModelBytesTest {
  @Test
  void aModelRoundTripsExactlyWithItsOptions() {
    try (GptModel m = TestSpark.tinyModel(3)) {
      byte[] bytes = ModelBytes.of(m);
      assertTrue(bytes.length > ModelBytes.parameterBytes(m) && bytes.length < ModelBytes.parameterBytes(m) + 8192);
      try (GptModel back = (GptModel) ModelBytes.toModel(bytes, "test")) {
        assertEquals(m.config(), back.config());
        assertEquals(m.options(), back.options());
        assertEquals(m.parameters().flat().array(), back.parameters().flat().array());
      }
    }
  }

  @Test
  void llamaAndQwen2ModelsRoundTripExactly() {
    for (boolean qwen : new boolean[] {false, true}) {
      try (LlamaModel m = TestSpark.tinyLlama(3, qwen)) {
        try (CausalLm back = ModelBytes.toModel(ModelBytes.of(m), "llama")) {
          LlamaModel l = assertInstanceOf(LlamaModel.class, back);
          assertEquals(m.config(), l.config());
          assertEquals(m.options(), l.options());
          assertEquals(m.parameters().flat().array(), l.parameters().flat().array());
        }
        // a Llama reward model: backbone, scalar head and normalisation
        try (TransformerRewardModel rm = TransformerRewardModel.fromPolicy(m, 5)) {
          rm.setNormalization(2.0, 0.5);
          try (TransformerRewardModel back = ModelBytes.toRewardModel(ModelBytes.of(rm), "rm")) {
            assertInstanceOf(LlamaModel.class, back.model());
            assertEquals(2.0, back.gain());
            assertEquals(rm.model().parameters().flat().array(), back.model().parameters().flat().array());
          }
        }
      }
    }
  }

  @Test
  void anArchitectureWithoutARegisteredFamilyIsRefusedByName() {
    try (LlamaModel m = TestSpark.tinyLlama(3, false)) {
      byte[] bytes = ModelBytes.of(m);
      // rename the architecture in the header (same length, so the file stays well-formed)
      String latin = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
      int at = latin.indexOf("\"architecture\":\"llama\"");
      assertTrue(at > 0, "the header names the architecture");
      byte[] renamed = bytes.clone();
      byte[] other = "\"architecture\":\"zzzzz\"".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
      System.arraycopy(other, 0, renamed, at, other.length);
      RlhfException e = assertThrows(RlhfException.class, () -> ModelBytes.toModel(renamed, "renamed"));
      assertTrue(e.getMessage().contains("renamed: a zzzzz model") && e.getMessage().contains("no model family"),
          e.getMessage());
    }
  }

  @Test
  void aRewardModelKeepsItsNormalisation() {
    try (TransformerRewardModel rm = TransformerRewardModel.fromPolicy(TestSpark.tinyModel(4), 9)) {
      rm.setNormalization(1.5, -0.25);
      try (TransformerRewardModel back = ModelBytes.toRewardModel(ModelBytes.of(rm), "test")) {
        assertEquals(1.5, back.gain());
        assertEquals(-0.25, back.bias());
        assertEquals(rm.model().parameters().flat().array(), back.model().parameters().flat().array());
      }
      // a policy's bytes are not a reward model
      try (GptModel m = TestSpark.tinyModel(3)) {
        RlhfException e = assertThrows(RlhfException.class, () -> ModelBytes.toRewardModel(ModelBytes.of(m), "p.bytes"));
        assertTrue(e.getMessage().contains("p.bytes: not a reward model"), e.getMessage());
      }
    }
  }

  @Test
  void corruptBytesAreRefused() {
    try (GptModel m = TestSpark.tinyModel(3)) {
      byte[] bytes = ModelBytes.of(m);
      byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length / 2);
      RuntimeException e = assertThrows(RuntimeException.class, () -> ModelBytes.toModel(cut, "cut"));
      assertTrue(e.getMessage() != null && !e.getMessage().isEmpty());
      byte[] nan = bytes.clone();
      // the last 4 bytes are the last parameter (F32, little-endian): make it NaN
      nan[nan.length - 1] = (byte) 0x7f;
      nan[nan.length - 2] = (byte) 0xc0;
      e = assertThrows(RuntimeException.class, () -> ModelBytes.toModel(nan, "nan"));
      assertTrue(e.getMessage().contains("nan"), e.getMessage());
    }
  }

  @Test
  void aTokenizerRoundTrips() {
    Tokenizer back = TokenizerBytes.toTokenizer(TokenizerBytes.of(TestSpark.TOK));
    assertArrayEquals(TestSpark.TOK.encode("hello, spark"), back.encode("hello, spark"));
    assertEquals(TestSpark.TOK.vocabSize(), back.vocabSize());
    assertThrows(RlhfException.class, () -> TokenizerBytes.toTokenizer(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}));
  }

  /** A model stand-in that counts its closes. */
  private static final class Fake implements AutoCloseable {
    final AtomicInteger closes = new AtomicInteger();

    @Override
    public void close() {
      closes.incrementAndGet();
    }
  }

  @Test
  void theCacheBuildsOncePerVersionAndClosesWhatItEvicts() {
    String run = UUID.randomUUID().toString();
    List<Fake> made = new ArrayList<>();
    ExecutorModels.Key v0 = new ExecutorModels.Key(run, "policy", 0);
    Fake a;
    try (ExecutorModels.Lease<Fake> l = ExecutorModels.borrow(v0, () -> add(made))) {
      assertTrue(l.built());
      a = l.get();
      // a concurrent borrower gets its own copy
      try (ExecutorModels.Lease<Fake> l2 = ExecutorModels.borrow(v0, () -> add(made))) {
        assertTrue(l2.built());
        assertFalse(l2.get() == a);
      }
    }
    try (ExecutorModels.Lease<Fake> l = ExecutorModels.borrow(v0, () -> add(made))) {
      assertFalse(l.built());
      assertEquals(2, made.size());
      // version 1 evicts version 0: its idle copy is closed now, the borrowed one when given back
      try (ExecutorModels.Lease<Fake> l1 = ExecutorModels.borrow(new ExecutorModels.Key(run, "policy", 1),
          () -> add(made))) {
        assertTrue(l1.built());
        assertEquals(1, made.get(0).closes.get() + made.get(1).closes.get());
      }
      assertFalse(ExecutorModels.keys().contains(v0));
    }
    assertEquals(1, made.get(0).closes.get());
    assertEquals(1, made.get(1).closes.get());
    assertEquals(0, made.get(2).closes.get());
    assertThrows(IllegalStateException.class, () -> {
      ExecutorModels.Lease<Fake> l = ExecutorModels.borrow(new ExecutorModels.Key(run, "policy", 1), () -> add(made));
      l.close();
      l.get();
    });
    assertEquals(3, ExecutorModels.built(run, "policy")); // two copies of v0, one of v1
    ExecutorModels.release(run);
    assertEquals(0, ExecutorModels.built(run, "policy"));
    assertEquals(1, made.get(2).closes.get());
    assertTrue(ExecutorModels.keys().stream().noneMatch(k -> k.runId().equals(run)));
  }

  @Test
  void theCacheIsBounded() {
    String run = UUID.randomUUID().toString();
    List<Fake> made = new ArrayList<>();
    int max = ExecutorModels.maxEntries();
    for (int i = 0; i <= max; i++) {
      ExecutorModels.borrow(new ExecutorModels.Key(run, "role" + i, 0), () -> add(made)).close();
    }
    assertEquals(max, ExecutorModels.keys().size());
    assertEquals(1, made.get(0).closes.get(), "the least recently used entry is evicted and closed");
    assertEquals(0, made.get(max).closes.get());
    ExecutorModels.release(run);
  }

  private static Fake add(List<Fake> made) {
    Fake f = new Fake();
    made.add(f);
    return f;
  }
}
