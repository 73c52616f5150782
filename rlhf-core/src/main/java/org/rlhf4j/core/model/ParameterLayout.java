package org.rlhf4j.core.model;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where each named parameter of a {@link GptConfig} lives in one flat buffer. Names follow Hugging
 * Face's GPT-2 ({@code wte}, {@code wpe}, {@code h.N.ln_1.weight}, {@code h.N.attn.c_attn.weight}
 * with Conv1D's {@code [in, out]} layout, ..., {@code ln_f.bias}) plus {@code scalar_head.weight} and
 * {@code scalar_head.bias}. Weight-decayed tensors (embeddings and matrices) come first, so the decay
 * group is a prefix of the buffer.
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
  private final ImmutableMap<String, Entry> byName;
  private final long totalSize;
  private final long decaySize;

  private ParameterLayout(List<Entry> entries) {
    this.entries = ImmutableList.copyOf(entries);
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
    this.byName = m.buildOrThrow();
    this.totalSize = total;
    this.decaySize = decay;
  }

  /** The layout of {@code config}'s parameters. */
  public static ParameterLayout of(GptConfig c) {
    int d = c.dModel();
    int f = c.mlpDim();
    List<Object[]> decayed = new ArrayList<>();
    List<Object[]> plain = new ArrayList<>();
    decayed.add(new Object[] {"wte", new long[] {c.vocabSize(), d}});
    decayed.add(new Object[] {"wpe", new long[] {c.contextLength(), d}});
    for (int l = 0; l < c.layers(); l++) {
      String p = "h." + l + ".";
      plain.add(new Object[] {p + "ln_1.weight", new long[] {d}});
      plain.add(new Object[] {p + "ln_1.bias", new long[] {d}});
      decayed.add(new Object[] {p + "attn.c_attn.weight", new long[] {d, 3L * d}});
      plain.add(new Object[] {p + "attn.c_attn.bias", new long[] {3L * d}});
      decayed.add(new Object[] {p + "attn.c_proj.weight", new long[] {d, d}});
      plain.add(new Object[] {p + "attn.c_proj.bias", new long[] {d}});
      plain.add(new Object[] {p + "ln_2.weight", new long[] {d}});
      plain.add(new Object[] {p + "ln_2.bias", new long[] {d}});
      decayed.add(new Object[] {p + "mlp.c_fc.weight", new long[] {d, f}});
      plain.add(new Object[] {p + "mlp.c_fc.bias", new long[] {f}});
      decayed.add(new Object[] {p + "mlp.c_proj.weight", new long[] {f, d}});
      plain.add(new Object[] {p + "mlp.c_proj.bias", new long[] {d}});
    }
    plain.add(new Object[] {"ln_f.weight", new long[] {d}});
    plain.add(new Object[] {"ln_f.bias", new long[] {d}});
    if (c.scalarHead()) {
      decayed.add(new Object[] {"scalar_head.weight", new long[] {d}});
      plain.add(new Object[] {"scalar_head.bias", new long[] {1}});
    }
    List<Entry> out = new ArrayList<>();
    long offset = 0;
    for (List<Object[]> group : List.of(decayed, plain)) {
      for (Object[] e : group) {
        long[] shape = (long[]) e[1];
        long size = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        out.add(new Entry((String) e[0], shape, offset, size, group == decayed));
        offset += size;
      }
    }
    return new ParameterLayout(out);
  }

  /** All entries, in buffer order. */
  public ImmutableList<Entry> entries() {
    return entries;
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
