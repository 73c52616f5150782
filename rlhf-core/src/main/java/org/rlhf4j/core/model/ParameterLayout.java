package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where each named parameter of a model lives in one flat buffer, derived from the model's table of
 * {@link ParameterSpec}s. Weight-decayed tensors (embeddings and matrices) come first, so the decay
 * group is a prefix of the buffer. Immutable.
 */
public final class ParameterLayout {

  /** One named tensor: its shape, its offset in the flat buffer, and whether AdamW decays it. */
  public record Entry(String name, long[] shape, long offset, long size, boolean decay) {
    /** A defensive copy of the shape. */
    @Override
    public long[] shape() {
      return shape.clone();
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape) + "@" + offset;
    }
  }

  private final ImmutableList<Entry> entries;
  private final ImmutableList<ParameterSpec> specs;
  private final ImmutableMap<String, Entry> byName;
  private final ImmutableMap<String, ParameterSpec> specByName;
  private final long totalSize;
  private final long decaySize;

  private ParameterLayout(List<Entry> entries, List<ParameterSpec> specs) {
    this.entries = ImmutableList.copyOf(entries);
    this.specs = ImmutableList.copyOf(specs);
    ImmutableMap.Builder<String, ParameterSpec> sm = ImmutableMap.builder();
    specs.forEach(s -> sm.put(s.name(), s));
    ImmutableMap.Builder<String, Entry> m = ImmutableMap.builder();
    long decay = 0;
    long total = 0;
    for (Entry e : entries) {
      m.put(e.name(), e);
      total += e.size();
      if (e.decay()) {
        decay += e.size();
      }
    }
    try {
      this.byName = m.buildOrThrow();
      this.specByName = sm.buildOrThrow();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("the parameter table names a tensor twice: " + e.getMessage(), e);
    }
    this.totalSize = total;
    this.decaySize = decay;
  }

  /**
   * The layout of a parameter table: weight-decayed tensors first, then the others, each group in
   * the table's order.
   *
   * @throws IllegalArgumentException if two specs share a name
   */
  public static ParameterLayout of(List<ParameterSpec> table) {
    checkArgument(!table.isEmpty(), "an empty parameter table");
    List<Entry> out = new ArrayList<>();
    List<ParameterSpec> ordered = new ArrayList<>();
    long offset = 0;
    for (boolean decayGroup : new boolean[] {true, false}) {
      for (ParameterSpec s : table) {
        if (s.decay() == decayGroup) {
          out.add(new Entry(s.name(), s.shape(), offset, s.size(), s.decay()));
          ordered.add(s);
          offset += s.size();
        }
      }
    }
    return new ParameterLayout(out, ordered);
  }

  /** All entries, in buffer order. */
  public ImmutableList<Entry> entries() {
    return entries;
  }

  /** The specs the layout was derived from, in buffer order. */
  public ImmutableList<ParameterSpec> specs() {
    return specs;
  }

  /** The spec of the tensor called {@code name}. */
  public ParameterSpec spec(String name) {
    ParameterSpec s = specByName.get(name);
    checkArgument(s != null, "no parameter named %s", name);
    return s;
  }

  /** The entry called {@code name}. */
  public Entry entry(String name) {
    Entry e = byName.get(name);
    checkArgument(e != null, "no parameter named %s", name);
    return e;
  }

  /** Whether a parameter called {@code name} exists. */
  public boolean contains(String name) {
    return byName.containsKey(name);
  }

  /** The total number of elements. */
  public long totalSize() {
    return totalSize;
  }

  /** The number of leading elements that AdamW decays. */
  public long decaySize() {
    return decaySize;
  }
}
