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
 * {@link GptModel} with {@link #mergeInto}; {@link #create} and {@link #attach} run adapters in the
 * model's forward and backward passes and cached decoding (per shard), so the trainers train just the
 * adapter, as with {@link LlamaLora}.
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
   * A new adapter (initialised from {@code seed}) attached to {@code model}, whose weights it freezes.
   * {@code config} must have {@code fan_in_fan_out} (Conv1D's layout, as PEFT sets for GPT-2); {@code
   * modules_to_save} may name {@code scalar_head}.
   */
  public static LoraLayers create(GptModel model, LoraConfig config, long seed) {
    checkNotNull(model, "model");
    checkArgument(config.fanInFanOut(), "a GPT-2 adapter needs fan_in_fan_out true (Conv1D weights are [in, out])");
    LoraAdapter a =
        LoraAdapter.create(config, linearModules(model.config()), LoraLayers.views(model.parameters()), seed, model.dataType());
    return attach(model, a);
  }

  /** Attaches {@code adapter} (of the model's element type) to {@code model} on a frozen base. */
  public static LoraLayers attach(GptModel model, LoraAdapter adapter) {
    checkArgument(
        adapter.dataType() == model.dataType(), "the adapter is %s but the model %s", adapter.dataType(), model.dataType());
    com.google.common.base.Preconditions.checkState(model.adapters() == null, "the model already has adapters attached");
    LoraLayers layers = new LoraLayers(adapter);
    model.setAdapters(layers);
    return layers;
  }

  /**
   * Adds each adapted layer's {@code s · (B A)ᵀ} into {@code model}'s Conv1D weight ({@code
   * h.N.attn.c_attn.weight}, ...), and copies trained {@code modules_to_save} tensors, for good. The
   * adapter must not be attached to {@code model} (or be detached first).
   */
  public static void mergeInto(GptModel model, LoraAdapter adapter) {
    checkArgument(adapter.config().fanInFanOut(), "a GPT-2 adapter must have fan_in_fan_out (Conv1D weights are [in, out])");
    for (LinearModule m : adapter.modules()) {
      checkArgument(m.name().startsWith(PREFIX), "not a GPT-2 module: %s", m.name());
      String core = m.name().substring(PREFIX.length()) + ".weight";
      LoraMath.addDelta(model.parameters().get(core), adapter.a(m.name()), adapter.b(m.name()), adapter.scale(), true, 1);
    }
    for (String p : adapter.savedParameters()) {
      model.parameters().get(p).array().assign(adapter.saved(p).array());
    }
  }
}
