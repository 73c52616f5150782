package org.rlhf4j.spark;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.io.ModelCheckpoint;
import org.rlhf4j.core.io.SafetensorsReader;
import org.rlhf4j.core.io.SafetensorsWriter;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.gpt2.GptConfig;
import org.rlhf4j.core.model.gpt2.GptModel;
import org.rlhf4j.core.model.ModelFamily;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.reward.TransformerRewardModel;

/**
 * A model as the bytes of one safetensors file, for a Spark broadcast: its parameters (in their own
 * type, so the copy is exact) and, in {@code __metadata__}, its architecture and configuration, the
 * options an executor builds it with (element type, threads) and a reward model's normalisation.
 * Executors rebuild a model of any architecture registered as a {@link ModelFamily} (GPT-2, Llama /
 * Qwen2 / Mistral); another is refused by name. Written with
 * the library's {@link SafetensorsWriter} and read back with its {@link SafetensorsReader}; the
 * weights are checked to be finite on both sides.
 */
public final class ModelBytes {
  /** The default largest model that is broadcast: 2 GiB less a margin (a Java array's limit). */
  public static final long DEFAULT_MAX_BYTES = Integer.MAX_VALUE - (1L << 20);

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String FORMAT = "rlhf4j-broadcast";

  private ModelBytes() {}

  /** The bytes {@link #of} would produce for {@code model}'s parameters, without the header. */
  public static long parameterBytes(CausalLm model) {
    long elements = 0;
    for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
      elements += e.size();
    }
    return elements * bytesPerElement(model.dataType());
  }

  private static long bytesPerElement(DataType t) {
    return switch (t) {
      case DOUBLE -> 8;
      case FLOAT -> 4;
      case HALF, BFLOAT16 -> 2;
      default -> throw new IllegalArgumentException("cannot broadcast a model of type " + t);
    };
  }

  /**
   * Refuses a model of more than {@code maxBytes}, naming its size: a broadcast is held whole in
   * the driver's and each executor's memory.
   */
  static void checkSize(String what, CausalLm model, long maxBytes) {
    checkNotNull(model, what);
    if (ModelFamily.find(model.architecture()).isEmpty()) {
      throw new RlhfException("the " + what + " is a " + model.architecture() + " model, and no model family of that"
          + " name is registered (META-INF/services/" + ModelFamily.class.getName() + "): executors could not rebuild it");
    }
    long bytes = parameterBytes(model);
    if (bytes > maxBytes) {
      throw new RlhfException(String.format(Locale.ROOT,
          "the %s is too large to broadcast: %,d parameters of %s are %,d bytes (%.1f MiB), more than the limit of %,d"
              + " bytes (%.1f MiB); raise it with maxBroadcastBytes(..) (at most %,d) if the driver and every executor"
              + " have the memory, or use a smaller model",
          what, model.parameters().layout().totalSize(), model.dataType(), bytes, bytes / 1048576.0, maxBytes,
          maxBytes / 1048576.0, DEFAULT_MAX_BYTES));
    }
  }

  /** {@code model} (a policy or reference) as safetensors bytes. */
  public static byte[] of(CausalLm model) {
    return write(model, Map.of());
  }

  /** A reward model (backbone, scalar head and normalisation) as safetensors bytes. */
  public static byte[] of(TransformerRewardModel rewardModel) {
    checkNotNull(rewardModel, "rewardModel");
    return write(rewardModel.model(),
        Map.of("reward_gain", Double.toString(rewardModel.gain()), "reward_bias", Double.toString(rewardModel.bias())));
  }

  private static byte[] write(CausalLm model, Map<String, String> extra) {
    checkNotNull(model, "model");
    checkArgument(!model.isClosed(), "the model is closed");
    checkArgument(ModelFamily.find(model.architecture()).isPresent(),
        "cannot broadcast a %s model: no model family of that name is registered", model.architecture());
    try {
      SafetensorsWriter.Builder w = SafetensorsWriter.builder();
      for (ParameterLayout.Entry e : model.parameters().layout().entries()) {
        w.add(e.name(), model.parameters().get(e.name()).array());
      }
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", FORMAT);
      meta.put("architecture", model.architecture());
      meta.put("model", JSON.writeValueAsString(model.configMap()));
      meta.put("dtype", model.dataType().name());
      meta.put("threads", Integer.toString(model.options().threads()));
      meta.putAll(extra);
      return w.metadata(meta).toBytes(); // in memory: no file, no fsync
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serialise the model for a broadcast: " + e.getMessage(), e);
    }
  }

  /**
   * A model rebuilt from {@link #of(CausalLm)}'s bytes, of the architecture named in them (its
   * {@link ModelFamily}), with the options it was written with.
   */
  public static CausalLm toModel(byte[] bytes, String source) {
    return read(bytes, source).model;
  }

  /** A reward model rebuilt from {@link #of(TransformerRewardModel)}'s bytes. */
  public static TransformerRewardModel toRewardModel(byte[] bytes, String source) {
    Read r = read(bytes, source);
    String gain = r.meta.get("reward_gain");
    String bias = r.meta.get("reward_bias");
    if (gain == null || bias == null || !r.model.hasScalarHead()) {
      r.model.close();
      throw new RlhfException(source + ": not a reward model (no scalar head or no reward_gain/reward_bias metadata)");
    }
    TransformerRewardModel rm = TransformerRewardModel.wrap(r.model);
    rm.setNormalization(Double.parseDouble(gain), Double.parseDouble(bias));
    return rm;
  }

  private record Read(CausalLm model, Map<String, String> meta) {}

  private static Read read(byte[] bytes, String source) {
    checkNotNull(bytes, "bytes");
    Path tmp = null;
    try {
      tmp = Files.createTempFile("rlhf4j-broadcast", ".safetensors");
      Files.write(tmp, bytes);
      try (SafetensorsReader r = SafetensorsReader.open(tmp)) {
        Map<String, String> meta = r.metadata();
        if (!FORMAT.equals(meta.get("format")) || meta.get("model") == null || meta.get("dtype") == null
            || meta.get("threads") == null) {
          throw new RlhfException(source + ": not a broadcast model (metadata " + meta.keySet() + ")");
        }
        String architecture = meta.get("architecture");
        ModelFamily family = ModelFamily.find(String.valueOf(architecture)).orElseThrow(() -> new RlhfException(source
            + ": a " + architecture + " model, and no model family of that name is registered on this executor"
            + " (META-INF/services/" + ModelFamily.class.getName() + ")"));
        Map<String, Object> cfg = JSON.readValue(meta.get("model"), new TypeReference<Map<String, Object>>() {});
        if (GptModel.ARCHITECTURE.equals(architecture)) { // sizes checked before allocating
          ModelCheckpoint.checkSizes(GptConfig.fromMap(cfg, source), source, r.names().size());
        }
        ModelOptions options = new ModelOptions(DataType.valueOf(meta.get("dtype")), Integer.parseInt(meta.get("threads")));
        CausalLm model = family.uninitialized(cfg, source, options);
        try {
          ParameterLayout layout = model.parameters().layout();
          for (String name : r.names()) {
            if (!layout.contains(name)) {
              throw new RlhfException(source + ": unexpected tensor " + name + " for a " + architecture + " model");
            }
          }
          for (ParameterLayout.Entry e : layout.entries()) {
            if (!r.contains(e.name())) {
              throw new RlhfException(source + ": tensor " + e.name() + " is missing");
            }
            if (!java.util.Arrays.equals(r.info(e.name()).shapeArray(), e.shape())) {
              throw new RlhfException(source + ": tensor " + e.name() + " has shape " + r.info(e.name()).shape()
                  + ", expected " + java.util.Arrays.toString(e.shape()));
            }
            var target = model.parameters().get(e.name()).array();
            r.readInto(e.name(), target);
            ModelCheckpoint.checkFinite(target, e.name(), source);
          }
        } catch (RuntimeException e) {
          model.close();
          throw e;
        }
        return new Read(model, meta);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(source + ": cannot read the broadcast model: " + e.getMessage(), e);
    } finally {
      deleteQuietly(tmp);
    }
  }

  static void deleteQuietly(Path p) {
    if (p != null) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException ignored) {
        // a temporary file; the OS cleans its temporary directory
      }
    }
  }
}
