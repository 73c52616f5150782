package org.rlhf4j.core.model.gpt2;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static org.rlhf4j.core.tensor.Blas.gemm;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.AttentionKernels;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.Tensor;

/**
 * GPT-2's {@link DecodeSession}: {@link #prefill} runs the model once over left-padded prompts and
 * caches every layer's keys and values; each {@link #step} then feeds one new token per sequence
 * through the same blocks as the full pass ({@link ShardMath#block}), attending over the cache, at a
 * cost independent of the prefix length's square. A shard of one sequence with several threads (batch
 * 1, sampling one sequence) runs its steps as a {@link TeamDecodeStep} instead: one parallel region
 * per step, its threads claiming fixed slices of each phase (without LoRA adapters active; with them,
 * the per-product path).
 */
final class GptDecodeSession implements DecodeSession {
  private final GptModel model;
  private final GptConfig c;
  private final int batch;
  private final int capacity;
  private final int[] bounds;
  private final Shard[] shards;
  private final INDArray logits; // [B, V], returned by prefill and step, overwritten by the next step
  private int length;
  private boolean prefilled;
  private boolean closed;

  /** One shard's cache and scratch ({@code m} sequences). */
  private static final class Shard implements AutoCloseable {
    final int m;
    final int ways; // threads inside this shard's products and attention
    final Arena arena;
    final int[] keyMask;
    final int[] positions;
    final int[] tokens;
    Tensor[] kCache; // per layer [m*H, capacity, dh]
    Tensor[] vCache;
    Tensor x; // [m, d]
    Tensor out; // [m, d]
    Tensor mid; // [m, d]
    Tensor lnHat; // [m, d]
    Tensor lnRstd; // [m]
    Tensor lnOut; // [m, d]
    Tensor qkv; // [m, 3d]
    Tensor q; // [m*H, dh]
    Tensor att; // [m*H, dh], the same layout as [m, d]
    Tensor fcPre; // [m, F]
    Tensor fcAct; // [m, F]
    final Tensor logits; // [m, V]: this shard's rows of the session's logits (a view)
    final BlockActs[] acts = new BlockActs[2]; // even layers write out, odd layers x (the scratch is shared)
    final TeamDecodeStep team; // one sequence on several threads: the whole step as one parallel region; else null

    Shard(GptConfig c, GptModel model, int m, int capacity, int ways, Tensor logits) {
      this.m = m;
      this.ways = ways;
      this.logits = logits;
      this.arena = new Arena(model.dataType());
      this.keyMask = new int[m * capacity];
      this.positions = new int[m];
      this.tokens = new int[m];
      long d = c.dModel();
      long f = c.mlpDim();
      long mh = (long) m * c.heads();
      long dh = c.headDim();
      arena.layout(
          a -> {
            kCache = new Tensor[c.layers()];
            vCache = new Tensor[c.layers()];
            for (int l = 0; l < c.layers(); l++) {
              kCache[l] = a.take(mh, capacity, dh);
              vCache[l] = a.take(mh, capacity, dh);
            }
            x = a.take(m, d);
            out = a.take(m, d);
            mid = a.take(m, d);
            lnHat = a.take(m, d);
            lnRstd = a.take(m);
            lnOut = a.take(m, d);
            qkv = a.take(m, 3 * d);
            q = a.take(mh, dh);
            att = a.take(mh, dh);
            fcPre = a.take(m, f);
            fcAct = a.take(m, f);
          });
      for (int i = 0; i < 2; i++) {
        BlockActs b = new BlockActs();
        b.ln1Out = lnOut;
        b.ln1Hat = lnHat;
        b.ln1Rstd = lnRstd;
        b.ln2Out = lnOut;
        b.ln2Hat = lnHat;
        b.ln2Rstd = lnRstd;
        b.y = att.reshape(m, d); // the cached attention writes att [m*H, dh], the same layout
        b.mid = mid;
        b.fcPre = fcPre;
        b.fcAct = fcAct;
        b.out = i == 0 ? out : x;
        acts[i] = b;
      }
      int teamParts = teamParts(c, m, ways);
      this.team = teamParts > 1
          ? new TeamDecodeStep(c, model.weights(), model.dataType(), teamParts, capacity, keyMask, positions, tokens, kCache, vCache, logits)
          : null;
    }

    @Override
    public void close() {
      arena.close();
      if (team != null) {
        team.close();
      }
    }
  }

  GptDecodeSession(GptModel model, int batch, int capacity) {
    this.model = model;
    this.c = model.config();
    checkArgument(batch >= 1, "batch must be >= 1, got %s", batch);
    checkArgument(
        capacity >= 1 && capacity <= c.contextLength(),
        "cache capacity %s must be in [1, context length %s]",
        capacity,
        c.contextLength());
    this.batch = batch;
    this.capacity = capacity;
    int count = Math.min(model.options().threads(), batch);
    this.bounds = new int[count + 1];
    for (int s = 0; s <= count; s++) {
      bounds[s] = (int) ((long) s * batch / count);
    }
    this.logits = Nd4j.create(model.dataType(), batch, c.vocabSize());
    this.shards = new Shard[count];
    Tensor all = Tensor.of(logits);
    for (int s = 0; s < count; s++) {
      shards[s] = new Shard(
          c, model, bounds[s + 1] - bounds[s], capacity, GptModel.intraShardWays(model.options().threads(), count, s),
          all.rows(bounds[s], bounds[s + 1]));
    }
  }

  @Override
  public int capacity() {
    return capacity;
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public int batchSize() {
    return batch;
  }

  /**
   * The keys ({@code part} 1) or values (2) of a full pass's projections {@code qkv [m*t, 3d]} (heads
   * in column blocks) as {@code [m*H, t, dh]}, the cache's layout.
   */
  private INDArray heads(Tensor qkv, int part, int m, int t) {
    int h = c.heads();
    int dh = c.headDim();
    return qkv.array().reshape('c', m, t, 3, h, dh).get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(part), NDArrayIndex.all(), NDArrayIndex.all())
        .permute(0, 2, 1, 3).dup('c').reshape('c', (long) m * h, t, dh);
  }

  @Override
  public INDArray prefill(TokenBatch prompts) {
    checkOpen();
    checkState(!prefilled, "prefill may be called once per session");
    checkArgument(prompts.batchSize() == batch, "expected %s prompts, got %s", batch, prompts.batchSize());
    int t = prompts.length();
    checkArgument(t <= capacity, "prompt length %s exceeds the cache capacity %s", t, capacity);
    for (int b = 0; b < batch; b++) {
      checkArgument(prompts.isLeftPadded(b), "prompt %s must be left-padded and non-empty", b);
    }
    synchronized (model.passLock) { // the pass's buffers are the model's: read them before another pass
      model.forward(prompts);
      Parallel.forEach(
          shards.length,
          s -> {
            Shard sh = shards[s];
            ShardWorkspace ws = model.shard(s).ws;
            for (int l = 0; l < c.layers(); l++) {
              sh.kCache[l].array().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t), NDArrayIndex.all()).assign(heads(ws.layers[l].qkv, 1, sh.m, t));
              sh.vCache[l].array().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t), NDArrayIndex.all()).assign(heads(ws.layers[l].qkv, 2, sh.m, t));
            }
            for (int r = 0; r < sh.m; r++) {
              int row = bounds[s] + r;
              for (int j = 0; j < t; j++) {
                sh.keyMask[r * capacity + j] = prompts.mask(row, j);
              }
              sh.positions[r] = prompts.realTokens(row);
              // the last prompt position's hidden state -> the logits of the first new token
              sh.x.array().getRow(r).assign(ws.hidden.array().getRow((long) r * t + t - 1));
            }
            gemm(sh.x, model.weights().wte, sh.logits, false, true); // this shard's rows of the session's logits
            if (sh.team != null) {
              sh.team.pack(); // the weights the cache was computed with, packed for the team's threads
            }
          });
    }
    length = t;
    prefilled = true;
    return logits;
  }

  @Override
  public INDArray step(int[] tokens) {
    checkOpen();
    checkState(prefilled, "call prefill first");
    checkArgument(tokens.length == batch, "expected %s tokens, got %s", batch, tokens.length);
    checkState(length < capacity, "the cache is full (%s positions)", capacity);
    for (int i = 0; i < tokens.length; i++) {
      checkArgument(
          tokens[i] >= 0 && tokens[i] < c.vocabSize(), "token %s of row %s is outside the vocabulary", tokens[i], i);
    }
    final int pos = length;
    Parallel.forEach(
        shards.length,
        s -> {
          Shard sh = shards[s];
          System.arraycopy(tokens, bounds[s], sh.tokens, 0, sh.m);
          stepShard(s, sh, pos); // writes this shard's rows of the session's logits
        });
    length++;
    return logits;
  }

  private void stepShard(int shardIndex, Shard sh, int pos) {
    org.rlhf4j.core.model.LinearAdapters ad =
        model.adapters() != null && model.adapters().activeForDecode() ? model.adapters().forShard(shardIndex) : null;
    AttentionKernels attn = AttentionKernels.of(model.dataType());
    ShardMath math = model.math();
    Weights w = model.weights();
    int m = sh.m;
    int h = c.heads();
    int dh = c.headDim();
    int ways = sh.ways;
    for (int r = 0; r < m; r++) {
      sh.keyMask[r * capacity + pos] = 1;
      if (sh.positions[r] >= c.contextLength()) {
        throw new IllegalStateException("position " + sh.positions[r] + " exceeds the context length");
      }
    }
    if (sh.team != null && ad == null) { // one sequence on several threads: one parallel region
      sh.team.step(pos);
      sh.positions[0]++;
      return;
    }
    ShardMath.Attention cached = (layer, qkv, bias, y) -> { // y is sh.att seen as [m, d]
      attn.appendKv(qkv, bias, sh.q, sh.kCache[layer], sh.vCache[layer], m, h, dh, capacity, pos);
      if (m == 1 && ways > 1 && (long) h * (pos + 1) * dh >= Blas.minSplitWork()) { // one long sequence: heads on several threads
        int parts = Math.min(ways, h);
        Parallel.forEach(
            parts,
            part -> {
              int h0 = h * part / parts;
              int h1 = h * (part + 1) / parts;
              attn.attendCached(
                  sh.q.rows(h0, h1), sh.kCache[layer].rows(h0, h1), sh.vCache[layer].rows(h0, h1), sh.keyMask,
                  sh.att.rows(h0, h1), 1, h1 - h0, capacity, pos + 1, dh, 1.0 / Math.sqrt(dh));
            });
      } else {
        attn.attendCached(sh.q, sh.kCache[layer], sh.vCache[layer], sh.keyMask, sh.att, m, h, capacity, pos + 1, dh, 1.0 / Math.sqrt(dh));
      }
    };
    math.embed(sh.tokens, sh.positions, w, sh.x, m);
    Tensor x = sh.x;
    for (int l = 0; l < c.layers(); l++) {
      BlockActs a = sh.acts[l % 2];
      math.block(l, w.blocks.get(l), x, a, sh.qkv, m, ways, cached, ad, false);
      x = a.out;
    }
    math.finalNorm(x, w, sh.lnOut, sh.lnHat, sh.lnRstd, m);
    gemm(sh.lnOut, w.wte, sh.logits, false, true, sh.ways);
    for (int r = 0; r < m; r++) {
      sh.positions[r]++;
    }
  }

  /**
   * The slices per phase of a {@link TeamDecodeStep} for a shard of {@code m} sequences on {@code
   * ways} threads, or 1 where it does not pay: one sequence, several threads (at most one slice per
   * head), and each slice's share of a block's attention products ({@code 4 d^2 / P} multiply-adds)
   * worth a phase's hand-over ({@link Blas#minSplitWork()}).
   */
  static int teamParts(GptConfig c, int m, int ways) {
    int parts = Math.min(ways, c.heads());
    long d = c.dModel();
    return m == 1 && parts > 1 && 4 * d * d / parts >= Blas.minSplitWork() ? parts : 1;
  }

  /** The slices per phase of the first shard's {@link TeamDecodeStep} (adapters aside), or 0 without one; for tests. */
  int teamParts() {
    return shards[0].team == null ? 0 : shards[0].team.parts();
  }

  /** The first shard's {@link TeamDecodeStep}, or null; for tests. */
  TeamDecodeStep team() {
    return shards[0].team;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the decode session has been closed (its cache was freed)");
    }
    model.checkOpen(); // the session reads the model's weights
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Shard s : shards) {
      s.close();
    }
    logits.close();
  }
}
