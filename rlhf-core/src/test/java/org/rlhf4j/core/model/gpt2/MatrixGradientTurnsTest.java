package org.rlhf4j.core.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.model.FlatTensors;

/** The shards' turns at adding a block matrix's gradient: in shard order, and failing rather than waiting for ever. */
class MatrixGradientTurnsTest {
  private static final GptConfig C = GptConfig.builder().vocabSize(17).dModel(16).heads(2).layers(2).contextLength(10).build();

  @Test
  void shardsAddInShardOrder() throws Exception {
    try (FlatTensors g = FlatTensors.zeros(C.layout(), DataType.FLOAT)) {
      Weights into = new Weights(g, C);
      MatrixGradientTurns turns = new MatrixGradientTurns(into, C.layers());
      ShardMath.SharedMatrixGradients s0 = turns.forShard(0);
      ShardMath.SharedMatrixGradients s1 = turns.forShard(1);
      ShardMath.SharedMatrixGradients s2 = turns.forShard(2);
      assertFalse(s0.waits());
      assertTrue(s1.waits());
      // shard 2 asks first: it gets the matrix only after shards 0 and 1 released it
      CompletableFuture<Object> third = CompletableFuture.supplyAsync(() -> s2.acquire(1, 8));
      assertThrows(TimeoutException.class, () -> third.get(100, TimeUnit.MILLISECONDS));
      assertSame(into.blocks.get(1).fcW(), s0.acquire(1, 8), "the model's own tensor");
      s0.release(1, 8);
      assertThrows(TimeoutException.class, () -> third.get(100, TimeUnit.MILLISECONDS));
      s1.acquire(1, 8);
      s1.release(1, 8);
      assertSame(into.blocks.get(1).fcW(), third.get(10, TimeUnit.SECONDS));
      // the other matrices keep their own turns
      assertSame(into.blocks.get(0).attnW(), s0.acquire(0, 2));
      assertThrows(IllegalArgumentException.class, () -> s0.acquire(0, 3), "a bias is not a shared matrix");
    }
  }

  @Test
  void aWaitingShardFailsWhenAnEarlierOneFailed() throws Exception {
    try (FlatTensors g = FlatTensors.zeros(C.layout(), DataType.FLOAT)) {
      MatrixGradientTurns turns = new MatrixGradientTurns(new Weights(g, C), C.layers());
      CompletableFuture<Object> second = CompletableFuture.supplyAsync(() -> turns.forShard(1).acquire(0, 10));
      assertThrows(TimeoutException.class, () -> second.get(100, TimeUnit.MILLISECONDS));
      turns.abort(); // shard 0 failed before adding its gradient
      ExecutionException e = assertThrows(ExecutionException.class, () -> second.get(10, TimeUnit.SECONDS));
      assertEquals(IllegalStateException.class, e.getCause().getClass());
      assertTrue(e.getCause().getMessage().contains("earlier shard"), e.getCause().getMessage());
    }
  }
}
