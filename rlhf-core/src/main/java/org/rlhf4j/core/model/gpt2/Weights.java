package org.rlhf4j.core.model.gpt2;

import com.google.common.collect.ImmutableList;
import java.util.List;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.tensor.Tensor;

/**
 * Typed access to the tensors of one {@link FlatTensors} (parameter values, or their gradients):
 * the embeddings, each block's tensors, the final LayerNorm and the optional scalar head, by the
 * names of {@link GptConfig#parameterTable()}.
 */
final class Weights {
  /** The tensors of one transformer block. */
  record Block(
      Tensor ln1W,
      Tensor ln1B,
      Tensor attnW,
      Tensor attnB,
      Tensor projW,
      Tensor projB,
      Tensor ln2W,
      Tensor ln2B,
      Tensor fcW,
      Tensor fcB,
      Tensor fc2W,
      Tensor fc2B) {
    /** The tensor at {@code k} in this record's (and {@link GptConfig#blockTable}'s) order. */
    Tensor tensor(int k) {
      return switch (k) {
        case 0 -> ln1W;
        case 1 -> ln1B;
        case 2 -> attnW;
        case 3 -> attnB;
        case 4 -> projW;
        case 5 -> projB;
        case 6 -> ln2W;
        case 7 -> ln2B;
        case 8 -> fcW;
        case 9 -> fcB;
        case 10 -> fc2W;
        case 11 -> fc2B;
        default -> throw new IndexOutOfBoundsException("block tensor " + k + " of 12");
      };
    }
  }

  final Tensor wte;
  final Tensor wpe;
  final ImmutableList<Block> blocks;
  final Tensor lnfW;
  final Tensor lnfB;
  final Tensor headW;
  final Tensor headB;

  Weights(FlatTensors t, GptConfig c) {
    wte = t.get(GptConfig.WTE);
    wpe = t.get(GptConfig.WPE);
    ImmutableList.Builder<Block> b = ImmutableList.builder();
    for (int l = 0; l < c.layers(); l++) {
      List<Tensor> x = c.blockTable(l).stream().map(s -> t.get(s.name())).toList();
      b.add(new Block(x.get(0), x.get(1), x.get(2), x.get(3), x.get(4), x.get(5), x.get(6), x.get(7), x.get(8), x.get(9), x.get(10), x.get(11)));
    }
    blocks = b.build();
    lnfW = t.get(GptConfig.LN_F_WEIGHT);
    lnfB = t.get(GptConfig.LN_F_BIAS);
    headW = c.scalarHead() ? t.get(GptConfig.SCALAR_HEAD_WEIGHT) : null;
    headB = c.scalarHead() ? t.get(GptConfig.SCALAR_HEAD_BIAS) : null;
  }
}
