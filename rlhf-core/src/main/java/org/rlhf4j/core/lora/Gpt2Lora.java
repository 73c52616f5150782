package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;

/**
 * PEFT adapters for GPT-2 ({@code GPT2LMHeadModel}): its Conv1D layers, whose weights are stored
 * {@code [in, out]} (PEFT's {@code fan_in_fan_out: true}), under Hugging Face's module names ({@code
 * transformer.h.N.attn.c_attn}, {@code attn.c_proj}, {@code mlp.c_fc}, {@code mlp.c_proj}). An
 * adapter trained with {@code peft} on GPT-2 loads with {@link #load} and merges into an rlhf4j
 * {@link GptModel} with {@link #mergeInto}. (GPT-2 models do not yet run adapters in their forward
 * and backward passes; Llama-family models do, see {@link LlamaLora}.)
 */
public final class Gpt2Lora {
  private static final String PREFIX = "transformer.";

  private Gpt2Lora() {}

  /** The Conv1D layers of {@code c}, in model order. */
  public static List<LinearModule> linearModules(GptConfig c) {
    List<LinearModule> out = new ArrayList<>();
    int d = c.dModel();
    int f = c.mlpDim();
    for (int l = 0; l < c.layers(); l++) {
      String p = PREFIX + "h." + l + ".";
      out.add(new LinearModule(p + "attn.c_attn", d, 3 * d));
      out.add(new LinearModule(p + "attn.c_proj", d, d));
      out.add(new LinearModule(p + "mlp.c_fc", d, f));
      out.add(new LinearModule(p + "mlp.c_proj", f, d));
    }
    return out;
  }

  /**
   * Loads a PEFT adapter for a GPT-2 of {@code model}'s shape (its element type).
   *
   * @throws AdapterFormatException naming the file and key or field of any problem, including an
   *     adapter saved without {@code fan_in_fan_out} (which does not fit Conv1D's layout)
   */
  public static LoraAdapter load(GptModel model, Path dir) {
    checkNotNull(model, "model");
    LoraAdapter a = LoraAdapter.load(dir, linearModules(model.config()), Map.of(), model.dataType());
    if (!a.config().fanInFanOut()) {
      a.close();
      throw new AdapterFormatException(
          dir.resolve(PeftAdapterConfig.FILE_NAME).toString(),
          "field \"fan_in_fan_out\" = false: GPT-2's Conv1D weights are [in, out], so a GPT-2 adapter needs fan_in_fan_out true");
    }
    return a;
  }

  /**
   * Adds each adapted layer's {@code s · (B A)ᵀ} into {@code model}'s Conv1D weight ({@code
   * h.N.attn.c_attn.weight}, ...), for good.
   */
  public static void mergeInto(GptModel model, LoraAdapter adapter) {
    checkArgument(adapter.config().fanInFanOut(), "a GPT-2 adapter must have fan_in_fan_out (Conv1D weights are [in, out])");
    checkArgument(adapter.savedParameters().isEmpty(), "modules_to_save are not supported for GPT-2 adapters");
    for (LinearModule m : adapter.modules()) {
      checkArgument(m.name().startsWith(PREFIX), "not a GPT-2 module: %s", m.name());
      String core = m.name().substring(PREFIX.length()) + ".weight";
      LoraMath.addDelta(model.parameters().get(core), adapter.a(m.name()), adapter.b(m.name()), adapter.scale(), true, 1);
    }
  }
}
