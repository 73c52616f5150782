package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.rlhf4j.core.model.llama.LlamaConfig;
import org.rlhf4j.core.model.llama.LlamaLayout;
import org.rlhf4j.core.model.llama.LlamaModel;
import org.rlhf4j.core.tensor.Tensor;

/**
 * LoRA on a {@link LlamaModel} (Llama, Qwen2, Mistral): the model's linear layers under their Hugging
 * Face module names ({@code model.layers.N.self_attn.q_proj}, ..., {@code mlp.down_proj}, {@code
 * lm_head}), and attaching a new or saved PEFT adapter. {@code modules_to_save} may name {@code
 * scalar_head} to train a reward model's or critic's head with the adapter.
 *
 * <pre>{@code
 * LoraLayers lora = LlamaLora.create(model, LoraConfig.builder().r(8).alpha(16)
 *     .targetModules(TargetModules.allLinear()).build(), seed);
 * AdamW opt = new AdamW(adamConfig, lora.adapter().trainable(threads)); // the adapter alone
 * try (var reference = lora.adapter().disable()) { ... the base model's log-probabilities ... }
 * lora.adapter().save(dir); // PEFT's adapter_config.json + adapter_model.safetensors
 * }</pre>
 */
public final class LlamaLora {
  private LlamaLora() {}

  /** The linear layers of {@code c}, in model order, {@code lm_head} last. */
  public static List<LinearModule> linearModules(LlamaConfig c) {
    List<LinearModule> out = new ArrayList<>();
    int q = c.heads() * c.headDim();
    int kv = c.kvHeads() * c.headDim();
    int d = c.hiddenSize();
    int f = c.intermediateSize();
    for (int l = 0; l < c.layers(); l++) {
      String p = LlamaLayout.block(l);
      out.add(new LinearModule(p + "self_attn.q_proj", d, q));
      out.add(new LinearModule(p + "self_attn.k_proj", d, kv));
      out.add(new LinearModule(p + "self_attn.v_proj", d, kv));
      out.add(new LinearModule(p + "self_attn.o_proj", q, d));
      out.add(new LinearModule(p + "mlp.gate_proj", d, f));
      out.add(new LinearModule(p + "mlp.up_proj", d, f));
      out.add(new LinearModule(p + "mlp.down_proj", f, d));
    }
    out.add(new LinearModule("lm_head", d, c.vocabSize()));
    return out;
  }

  /**
   * A new adapter (initialised from {@code seed}) attached to {@code model}, whose weights it freezes.
   * Close the returned layers (after detaching with {@code model.setAdapters(null)}) to free them.
   */
  public static LoraLayers create(LlamaModel model, LoraConfig config, long seed) {
    checkNotNull(model, "model");
    LoraAdapter a =
        LoraAdapter.create(config, linearModules(model.config()), LoraLayers.views(model.parameters()), seed, model.dataType());
    return attach(model, a);
  }

  /**
   * Loads the PEFT adapter in {@code dir} and attaches it to {@code model}.
   *
   * @throws AdapterFormatException naming the file and key or field of any problem
   */
  public static LoraLayers load(LlamaModel model, Path dir) {
    checkNotNull(model, "model");
    LoraAdapter a = LoraAdapter.load(dir, linearModules(model.config()), LoraLayers.views(model.parameters()), model.dataType());
    return attach(model, a);
  }

  /** Attaches {@code adapter} (of the model's element type) to {@code model} on a frozen base. */
  public static LoraLayers attach(LlamaModel model, LoraAdapter adapter) {
    checkArgument(
        adapter.dataType() == model.dataType(), "the adapter is %s but the model %s", adapter.dataType(), model.dataType());
    checkState(model.adapters() == null, "the model already has adapters attached; detach them first");
    LoraLayers layers = new LoraLayers(adapter);
    model.setAdapters(layers);
    return layers;
  }

  /**
   * The live base weights of the adapted modules, for {@link LoraAdapter#merge}; a tied {@code
   * lm_head} (the embedding) is left out, so merging an adapter on it is refused.
   */
  public static Map<String, Tensor> baseWeights(LlamaModel model, LoraAdapter adapter) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (LinearModule m : adapter.modules()) {
      String name = m.name() + ".weight";
      if (model.parameters().layout().contains(name)) {
        out.put(m.name(), model.parameters().get(name));
      }
    }
    return out;
  }

  /**
   * Merges the attached adapter into {@code model}'s weights for good (PEFT's {@code
   * merge_and_unload}): each adapted weight gains {@code s · B A}, trained {@code modules_to_save}
   * copies replace the originals, and the adapter is detached and closed. E.g. the SFT adapter is
   * merged before PPO trains a new adapter on the SFT model, whose reference is then that model.
   */
  public static void mergeAndUnload(LlamaModel model, LoraLayers layers) {
    checkState(model.adapters() == layers, "these adapters are not attached to the model");
    LoraAdapter a = layers.adapter();
    checkState(a.isEnabled() && !a.isMerged(), "the adapter must be enabled and not merged");
    Map<String, Tensor> w = baseWeights(model, a);
    for (LinearModule m : a.modules()) {
      checkArgument(w.containsKey(m.name()), "cannot merge into %s: the model has no separate weight for it (tied?)", m.name());
      LoraMath.addDelta(w.get(m.name()), a.a(m.name()), a.b(m.name()), a.scale(), a.config().fanInFanOut(), 1);
    }
    for (String p : a.savedParameters()) {
      model.parameters().get(p).array().assign(a.saved(p).array());
    }
    model.setAdapters(null);
    layers.close();
  }
}
