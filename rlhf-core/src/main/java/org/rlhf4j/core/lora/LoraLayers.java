package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.LinearAdapters;
import org.rlhf4j.core.tensor.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link LoraAdapter} as a model's {@link LinearAdapters}: keeps each adapted layer's {@code u =
 * x Aᵀ} between the forward and backward pass (in buffers grown to the largest pass, {@code rows × r}
 * per layer), adds the adapters' gradients to {@link LoraAdapter#gradients()}, and hands the model
 * the adapter's trained copies of {@code modules_to_save} parameters. By default the base weights
 * are frozen: the model computes no gradients for them.
 *
 * <p>{@code lora_dropout} is kept in the configuration but not applied by the models (rlhf4j's models
 * have no training mode; {@link LoraMath} has the dropout arithmetic); a warning says so. Closing
 * frees the buffers and the adapter.
 */
public final class LoraLayers implements LinearAdapters, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LoraLayers.class);

  private final LoraAdapter adapter;
  private final boolean freezeBase;
  private final ImmutableMap<String, Integer> index; // module -> slot
  private final ImmutableMap<String, Boolean> saved; // modules_to_save parameter names
  private Tensor[] u = new Tensor[0]; // per slot [capacity, r]
  private Tensor du; // [capacity, r]
  private Tensor decodeU; // [decodeCapacity, r]
  private int capacity;
  private int decodeCapacity;

  /**
   * Adapters from {@code adapter}; {@code freezeBase} false also trains the model's own weights (full
   * fine-tuning plus the adapter, rarely wanted).
   */
  public LoraLayers(LoraAdapter adapter, boolean freezeBase) {
    this.adapter = checkNotNull(adapter, "adapter");
    this.freezeBase = freezeBase;
    ImmutableMap.Builder<String, Integer> b = ImmutableMap.builder();
    for (int i = 0; i < adapter.modules().size(); i++) {
      b.put(adapter.modules().get(i).name(), i);
    }
    this.index = b.buildOrThrow();
    ImmutableMap.Builder<String, Boolean> s = ImmutableMap.builder();
    adapter.savedParameters().forEach(p -> s.put(p, true));
    this.saved = s.buildOrThrow();
    if (adapter.config().dropout() > 0) {
      LOG.warn(
          "lora_dropout {} is kept in the adapter's configuration but not applied: rlhf4j's models have no"
              + " training mode", adapter.config().dropout());
    }
  }

  /** Adapters from {@code adapter} on a frozen base. */
  public LoraLayers(LoraAdapter adapter) {
    this(adapter, true);
  }

  /** The adapter. */
  public LoraAdapter adapter() {
    return adapter;
  }

  @Override
  public boolean beginPass(int rows) {
    checkArgument(rows >= 0, "rows must be >= 0, got %s", rows);
    if (!adapter.active()) {
      return false;
    }
    if (rows > capacity || u.length != index.size()) {
      int cap = Math.max(rows, 1);
      int r = adapter.config().r();
      for (Tensor t : u) {
        t.array().close();
      }
      if (du != null) {
        du.array().close();
      }
      u = new Tensor[index.size()];
      for (int i = 0; i < u.length; i++) {
        u[i] = Tensor.of(Nd4j.create(adapter.dataType(), cap, r));
      }
      du = Tensor.of(Nd4j.create(adapter.dataType(), cap, r));
      capacity = cap;
    }
    return true;
  }

  @Override
  public void forward(String module, Tensor x, Tensor y, int ways) {
    Integer i = index.get(module);
    if (i == null) {
      return;
    }
    int n = (int) x.shape()[0];
    LoraMath.forward(x, adapter.a(module), adapter.b(module), adapter.scale(), u[i].rows(0, n), y, ways);
  }

  @Override
  public void backward(String module, Tensor x, Tensor dy, Tensor dx, int ways) {
    Integer i = index.get(module);
    if (i == null) {
      return;
    }
    int n = (int) x.shape()[0];
    LoraMath.backward(
        x, u[i].rows(0, n), adapter.a(module), adapter.b(module), adapter.scale(), dy, du.rows(0, n), adapter.gradA(module),
        adapter.gradB(module), dx, ways);
  }

  @Override
  public boolean activeForDecode() {
    return adapter.active();
  }

  @Override
  public void decodeForward(String module, Tensor x, Tensor y, int ways) {
    if (!index.containsKey(module)) {
      return;
    }
    int n = (int) x.shape()[0];
    if (n > decodeCapacity) {
      if (decodeU != null) {
        decodeU.array().close();
      }
      decodeU = Tensor.of(Nd4j.create(adapter.dataType(), n, adapter.config().r()));
      decodeCapacity = n;
    }
    LoraMath.forward(x, adapter.a(module), adapter.b(module), adapter.scale(), decodeU.rows(0, n), y, ways);
  }

  @Override
  public boolean freezesBase() {
    return freezeBase;
  }

  @Override
  public org.rlhf4j.core.model.Trainable trainable(int threads) {
    return adapter.trainable(threads);
  }

  @Override
  public void zeroGradients() {
    adapter.zeroGradients();
  }

  @Override
  public Tensor parameter(String name, Tensor base) {
    return saved.containsKey(name) ? adapter.saved(name) : base;
  }

  @Override
  public Tensor parameterGradient(String name, Tensor baseGradient) {
    return saved.containsKey(name) ? adapter.savedGradient(name) : baseGradient;
  }

  /** Frees the buffers and closes the adapter. */
  @Override
  public void close() {
    for (Tensor t : u) {
      t.array().close();
    }
    u = new Tensor[0];
    if (du != null) {
      du.array().close();
      du = null;
    }
    if (decodeU != null) {
      decodeU.array().close();
      decodeU = null;
    }
    capacity = 0;
    decodeCapacity = 0;
    adapter.close();
  }

  /** The model parameters by name (views), from a flat buffer's layout. */
  static Map<String, INDArray> views(org.rlhf4j.core.model.FlatTensors params) {
    Map<String, INDArray> out = new java.util.LinkedHashMap<>();
    params.layout().entries().forEach(e -> out.put(e.name(), params.get(e.name()).array()));
    return out;
  }
}
