package org.rlhf4j.core.lora;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.LinearAdapters;
import org.rlhf4j.core.model.Trainable;
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
 * <p>A model that computes a batch in parallel shards (GPT-2) gets one state per shard ({@link
 * #forShard}): shard 0 writes the adapter's gradients, the others their own buffers, summed in shard
 * order by {@link #sumShardGradients}, so results are deterministic for a thread count.
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
  private final State main;
  private final List<State> shards = new ArrayList<>(); // shards 1.. (index s-1)

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
    this.main = new State(null);
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
    return main.beginPass(rows);
  }

  @Override
  public void forward(String module, Tensor x, Tensor y, int ways) {
    main.forward(module, x, y, ways);
  }

  @Override
  public void backward(String module, Tensor x, Tensor dy, Tensor dx, int ways) {
    main.backward(module, x, dy, dx, ways);
  }

  @Override
  public boolean adapts(String module) {
    return index.containsKey(module);
  }

  @Override
  public boolean activeForDecode() {
    return adapter.active();
  }

  @Override
  public void decodeForward(String module, Tensor x, Tensor y, int ways) {
    main.decodeForward(module, x, y, ways);
  }

  @Override
  public boolean freezesBase() {
    return freezeBase;
  }

  @Override
  public Trainable trainable(int threads) {
    return adapter.trainable(threads);
  }

  @Override
  public void zeroGradients() {
    adapter.zeroGradients();
    for (State s : shards) {
      s.grads.zero();
    }
  }

  @Override
  public Tensor parameter(String name, Tensor base) {
    return saved.containsKey(name) ? adapter.saved(name) : base;
  }

  @Override
  public Tensor parameterGradient(String name, Tensor baseGradient) {
    return main.parameterGradient(name, baseGradient);
  }

  @Override
  public synchronized LinearAdapters forShard(int shard) {
    checkArgument(shard >= 0, "shard must be >= 0, got %s", shard);
    if (shard == 0) {
      return this;
    }
    while (shards.size() < shard) {
      shards.add(new State(FlatTensors.zeros(adapter.parameters().layout(), adapter.dataType())));
    }
    return shards.get(shard - 1);
  }

  @Override
  public void sumShardGradients(int count) {
    INDArray total = adapter.gradients().flat().array();
    for (int s = 1; s < count && s - 1 < shards.size(); s++) {
      INDArray g = shards.get(s - 1).grads.flat().array();
      total.addi(g);
      g.assign(0);
    }
  }

  /** Frees the buffers and closes the adapter. */
  @Override
  public void close() {
    main.close();
    for (State s : shards) {
      s.close();
    }
    shards.clear();
    adapter.close();
  }

  /** The model parameters by name (views), from a flat buffer's layout. */
  static Map<String, INDArray> views(FlatTensors params) {
    Map<String, INDArray> out = new java.util.LinkedHashMap<>();
    params.layout().entries().forEach(e -> out.put(e.name(), params.get(e.name()).array()));
    return out;
  }

  /** One shard's activations and (for shards after the first) gradients. */
  private final class State implements LinearAdapters {
    final FlatTensors grads; // null: the adapter's own
    private Tensor[] u = new Tensor[0]; // per slot [capacity, r]
    private Tensor du; // [capacity, r]
    private Tensor decodeU; // [decodeCapacity, r]
    private int capacity;
    private int decodeCapacity;

    State(FlatTensors grads) {
      this.grads = grads;
    }

    private Tensor gradA(String module) {
      return grads == null ? adapter.gradA(module) : grads.get(LoraAdapter.keyA(module));
    }

    private Tensor gradB(String module) {
      return grads == null ? adapter.gradB(module) : grads.get(LoraAdapter.keyB(module));
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
        freeTraining();
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
          x, u[i].rows(0, n), adapter.a(module), adapter.b(module), adapter.scale(), dy, du.rows(0, n), gradA(module),
          gradB(module), dx, ways);
    }

    @Override
    public boolean adapts(String module) {
      return index.containsKey(module);
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
    public Trainable trainable(int threads) {
      return adapter.trainable(threads);
    }

    @Override
    public void zeroGradients() {
      LoraLayers.this.zeroGradients();
    }

    @Override
    public Tensor parameter(String name, Tensor base) {
      return LoraLayers.this.parameter(name, base);
    }

    @Override
    public Tensor parameterGradient(String name, Tensor baseGradient) {
      if (!saved.containsKey(name)) {
        return baseGradient;
      }
      return grads == null ? adapter.savedGradient(name) : grads.get(LoraAdapter.savedKey(name));
    }

    private void freeTraining() {
      for (Tensor t : u) {
        t.array().close();
      }
      u = new Tensor[0];
      if (du != null) {
        du.array().close();
        du = null;
      }
      capacity = 0;
    }

    void close() {
      freeTraining();
      if (decodeU != null) {
        decodeU.array().close();
        decodeU = null;
      }
      decodeCapacity = 0;
      if (grads != null) {
        grads.close();
      }
    }
  }
}
