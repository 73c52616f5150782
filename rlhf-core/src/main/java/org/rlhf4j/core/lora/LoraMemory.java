package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The memory of a model's training state: parameters trained, and bytes of weights, gradients and
 * AdamW's two moments, for full fine-tuning or for LoRA (frozen base weights plus an adapter whose
 * tensors alone have gradients and moments). Activations, which depend on batch and length, are not
 * included (see the models' {@code activationBytes}).
 *
 * @param totalParameters every weight held (the base plus the adapter)
 * @param trainedParameters the parameters with gradients and optimiser state
 * @param weightBytes bytes of all weights
 * @param gradientBytes bytes of the gradients
 * @param optimizerBytes bytes of AdamW's first and second moments
 */
public record LoraMemory(long totalParameters, long trainedParameters, long weightBytes, long gradientBytes, long optimizerBytes) {

  /** Full fine-tuning of {@code parameters} weights of {@code type}. */
  public static LoraMemory full(long parameters, DataType type) {
    checkArgument(parameters >= 0, "parameters must be >= 0, got %s", parameters);
    long w = type.width();
    return new LoraMemory(parameters, parameters, parameters * w, parameters * w, 2 * parameters * w);
  }

  /** LoRA of rank {@code r} on {@code adapted} over a frozen base of {@code baseParameters} weights. */
  public static LoraMemory lora(long baseParameters, List<LinearModule> adapted, int r, DataType type) {
    checkArgument(r >= 1, "r must be >= 1, got %s", r);
    long trained = 0;
    for (LinearModule m : adapted) {
      trained += m.adapterCount(r);
    }
    return withAdapter(baseParameters, trained, type);
  }

  /** LoRA with {@code adapter} (its tensors, including modules_to_save copies) over {@code baseParameters} weights. */
  public static LoraMemory of(LoraAdapter adapter, long baseParameters) {
    return withAdapter(baseParameters, adapter.trainableParameterCount(), adapter.dataType());
  }

  private static LoraMemory withAdapter(long base, long trained, DataType type) {
    long w = type.width();
    return new LoraMemory(base + trained, trained, (base + trained) * w, trained * w, 2 * trained * w);
  }

  /** Weights, gradients and moments together. */
  public long totalBytes() {
    return weightBytes + gradientBytes + optimizerBytes;
  }

  /** The share of parameters trained, in percent. */
  public double trainedPercent() {
    return totalParameters == 0 ? 0 : 100.0 * trainedParameters / totalParameters;
  }

  /** Bytes in GB (10⁹ bytes), two decimals. */
  public static String gb(long bytes) {
    return String.format(Locale.ROOT, "%.2f GB", bytes / 1e9);
  }

  /**
   * The README's memory table (Markdown) for {@code models}: fp32 weights, full fine-tuning, and
   * LoRA on every linear layer but the output layer at each rank of {@code ranks}.
   */
  public static String markdownTable(List<LlamaShape> models, int... ranks) {
    StringBuilder sb = new StringBuilder();
    sb.append("| model | parameters | fp32 weights | full fine-tuning: weights + grads + AdamW |");
    for (int r : ranks) {
      sb.append(" LoRA r=").append(r).append(": trained parameters | LoRA r=").append(r).append(": total |");
    }
    sb.append("\n|---|---:|---:|---:|");
    for (int ignored : ranks) {
      sb.append("---:|---:|");
    }
    sb.append('\n');
    for (LlamaShape m : models) {
      long p = m.parameterCount();
      LoraMemory full = full(p, DataType.FLOAT);
      List<LinearModule> adapted =
          m.linearModules().stream().filter(lm -> TargetModules.allLinear().matches(lm.name())).toList();
      sb.append("| ").append(m.name()).append(" | ").append(String.format(Locale.ROOT, "%,d", p)).append(" | ")
          .append(gb(full.weightBytes())).append(" | ").append(gb(full.totalBytes())).append(" |");
      for (int r : ranks) {
        LoraMemory l = lora(p, adapted, r, DataType.FLOAT);
        sb.append(String.format(Locale.ROOT, " %,d (%.2f %%) | %s |", l.trainedParameters(), l.trainedPercent(), gb(l.totalBytes())));
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  /** Prints the README's table (ranks 8 and 16). */
  public static void main(String[] args) {
    System.out.print(markdownTable(LlamaShape.PUBLISHED, 8, 16));
  }
}
