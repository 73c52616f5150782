package org.rlhf4j.core.model.llama;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static org.rlhf4j.core.tensor.Blas.gemm;
import static org.rlhf4j.core.tensor.Blas.gemmAccumulate;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.tensor.Arena;
import org.rlhf4j.core.tensor.LlamaKernels;
import org.rlhf4j.core.model.LinearAdapters;
import org.rlhf4j.core.tensor.Tensor;

/**
 * Incremental decoding with a key/value cache for a {@link LlamaModel}: {@link #prefill} runs the
 * model once over left-padded prompts and caches every layer's rotated keys and values ({@code KV}
 * heads, not {@code H}: grouped-query attention shrinks the cache by {@code H/KV}); each {@link #step}
 * feeds one new token per sequence at the next position of each and attends over the cache. The
 * logits equal those of a full forward pass over the same tokens. Not thread-safe; close it to free
 * the cache.
 */
public final class LlamaDecodeSession implements DecodeSession {
  private final LlamaModel model;
  private final LlamaConfig c;
  private final int batch;
  private final int capacity;
  private final Arena arena;
  private final int[] keyMask; // [B*capacity]
  private final int[] positions; // [B] the next token's position in each row
  private final INDArray logits; // [B, V], returned by prefill and step
  private Tensor[] kCache; // per layer [B*KV, capacity, dh]
  private Tensor[] vCache;
  private Tensor x; // [B, d]
  private Tensor out; // [B, d]
  private Tensor mid; // [B, d]
  private Tensor xn; // [B, d]
  private Tensor rstd; // [B]
  private Tensor q; // [B, qd] = [B*H, dh]
  private Tensor k; // [B, kvd]
  private Tensor v; // [B, kvd]
  private Tensor att; // [B*H, dh]
  private Tensor gate; // [B, F]
  private Tensor up; // [B, F]
  private Tensor act; // [B, F]
  private Tensor lg; // [B, V]
  private int length;
  private boolean prefilled;
  private boolean closed;

  LlamaDecodeSession(LlamaModel model, int batch, int capacity) {
    this.model = model;
    this.c = model.config();
    checkArgument(batch >= 1, "batch must be >= 1, got %s", batch);
    checkArgument(capacity >= 1 && capacity <= c.contextLength(), "cache capacity %s must be in [1, context length %s]", capacity, c.contextLength());
    this.batch = batch;
    this.capacity = capacity;
    this.keyMask = new int[batch * capacity];
    this.positions = new int[batch];
    this.logits = Nd4j.create(model.dataType(), batch, c.vocabSize());
    this.arena = new Arena(model.dataType());
    long d = c.hiddenSize();
    long f = c.intermediateSize();
    long dh = c.headDim();
    long bkv = (long) batch * c.kvHeads();
    arena.layout(
        a -> {
          kCache = new Tensor[c.layers()];
          vCache = new Tensor[c.layers()];
          for (int l = 0; l < c.layers(); l++) {
            kCache[l] = a.take(bkv, capacity, dh);
            vCache[l] = a.take(bkv, capacity, dh);
          }
          x = a.take(batch, d);
          out = a.take(batch, d);
          mid = a.take(batch, d);
          xn = a.take(batch, d);
          rstd = a.take(batch);
          q = a.take(batch, c.heads() * dh);
          k = a.take(batch, c.kvHeads() * dh);
          v = a.take(batch, c.kvHeads() * dh);
          att = a.take((long) batch * c.heads(), dh);
          gate = a.take(batch, f);
          up = a.take(batch, f);
          act = a.take(batch, f);
          lg = a.take(batch, c.vocabSize());
        });
  }

  /** The number of positions filled (padded prompt length plus tokens stepped). */
  @Override
  public int length() {
    return length;
  }

  @Override
  public int capacity() {
    return capacity;
  }

  /** The number of sequences. */
  @Override
  public int batchSize() {
    return batch;
  }

  /**
   * Runs the model over left-padded {@code prompts} and caches their keys and values.
   *
   * @return the logits of the next token after each prompt, {@code [B, V]} (the session's buffer,
   *     overwritten by the next {@link #step})
   */
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
      LlamaWorkspace ws = model.workspace();
      for (int l = 0; l < c.layers(); l++) {
        kCache[l].array().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t), NDArrayIndex.all()).assign(ws.layers[l].k.array());
        vCache[l].array().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t), NDArrayIndex.all()).assign(ws.layers[l].v.array());
      }
      for (int r = 0; r < batch; r++) {
        for (int j = 0; j < t; j++) {
          keyMask[r * capacity + j] = prompts.mask(r, j);
        }
        positions[r] = prompts.realTokens(r);
        x.array().getRow(r).assign(ws.hidden.array().getRow((long) r * t + t - 1));
      }
      gemm(x, model.weights().lmHead, lg, false, true, model.options().threads());
      LinearAdapters ad = model.adapters();
      if (ad != null && ad.activeForDecode()) {
        ad.decodeForward(LlamaMath.LM_HEAD, x, lg, model.options().threads());
      }
    }
    logits.assign(lg.array());
    length = t;
    prefilled = true;
    return logits;
  }

  /**
   * Feeds one token per sequence (at the next position of each) and returns the logits of the token
   * after it, {@code [B, V]} (the session's buffer, overwritten by the next step).
   */
  @Override
  public INDArray step(int[] tokens) {
    checkOpen();
    checkState(prefilled, "call prefill first");
    checkArgument(tokens.length == batch, "expected %s tokens, got %s", batch, tokens.length);
    checkState(length < capacity, "the cache is full (%s positions)", capacity);
    for (int i = 0; i < tokens.length; i++) {
      checkArgument(tokens[i] >= 0 && tokens[i] < c.vocabSize(), "token %s of row %s is outside the vocabulary [0, %s)", tokens[i], i, c.vocabSize());
      checkState(positions[i] < c.contextLength(), "row %s: position %s exceeds the context length %s", i, positions[i], c.contextLength());
    }
    LlamaKernels lk = LlamaKernels.of(model.dataType());
    LlamaMath math = model.math();
    LlamaWeights w = model.weights();
    int m = batch;
    int d = c.hiddenSize();
    int h = c.heads();
    int kv = c.kvHeads();
    int dh = c.headDim();
    int f = c.intermediateSize();
    int ways = model.options().threads();
    double eps = c.rmsNormEps();
    int pos = length;
    for (int r = 0; r < m; r++) {
      keyMask[r * capacity + pos] = 1;
    }
    LinearAdapters ad = model.adapters() != null && model.adapters().activeForDecode() ? model.adapters() : null;
    String[][] names = math.modules;
    lk.embed(tokens, w.embed, x, m, d);
    Tensor in = x;
    Tensor o = out;
    for (int l = 0; l < c.layers(); l++) {
      LlamaWeights.Block p = w.blocks.get(l);
      lk.rmsNorm(in, p.inputNorm(), xn, rstd, m, d, eps);
      gemm(xn, p.wq(), q, false, true, ways);
      gemm(xn, p.wk(), k, false, true, ways);
      gemm(xn, p.wv(), v, false, true, ways);
      if (ad != null) {
        ad.decodeForward(names[l][LlamaMath.Q], xn, q, ways);
        ad.decodeForward(names[l][LlamaMath.K], xn, k, ways);
        ad.decodeForward(names[l][LlamaMath.V], xn, v, ways);
      }
      if (c.qkvBias()) {
        lk.addBias(q, p.bq(), m, h * dh);
        lk.addBias(k, p.bk(), m, kv * dh);
        lk.addBias(v, p.bv(), m, kv * dh);
      }
      lk.rope(q, math.cos, math.sin, positions, m, h, 1, dh, false); // [B, H*dh] is [B*H, 1, dh]
      lk.rope(k, math.cos, math.sin, positions, m, kv, 1, dh, false);
      lk.appendCache(k, kCache[l], m, kv, dh, capacity, pos);
      lk.appendCache(v, vCache[l], m, kv, dh, capacity, pos);
      lk.attendCachedGrouped(q, kCache[l], vCache[l], keyMask, att, m, h, kv, capacity, pos + 1, dh, 1.0 / Math.sqrt(dh));
      mid.array().assign(in.array());
      gemmAccumulate(att.reshape(m, (long) h * dh), p.wo(), mid, false, true, ways);
      if (ad != null) {
        ad.decodeForward(names[l][LlamaMath.O], att.reshape(m, (long) h * dh), mid, ways);
      }
      lk.rmsNorm(mid, p.postNorm(), xn, rstd, m, d, eps);
      gemm(xn, p.wGate(), gate, false, true, ways);
      gemm(xn, p.wUp(), up, false, true, ways);
      if (ad != null) {
        ad.decodeForward(names[l][LlamaMath.GATE], xn, gate, ways);
        ad.decodeForward(names[l][LlamaMath.UP], xn, up, ways);
      }
      lk.siluGate(gate, up, act, m * f);
      o.array().assign(mid.array());
      gemmAccumulate(act, p.wDown(), o, false, true, ways);
      if (ad != null) {
        ad.decodeForward(names[l][LlamaMath.DOWN], act, o, ways);
      }
      Tensor tmp = in;
      in = o;
      o = tmp;
    }
    lk.rmsNorm(in, w.norm, xn, rstd, m, d, eps);
    gemm(xn, w.lmHead, lg, false, true, ways);
    if (ad != null) {
      ad.decodeForward(LlamaMath.LM_HEAD, xn, lg, ways);
    }
    logits.assign(lg.array());
    for (int r = 0; r < m; r++) {
      positions[r]++;
    }
    length++;
    return logits;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the decode session has been closed (its cache was freed)");
    }
    model.checkOpen();
  }

  /** Whether {@link #close()} has been called. */
  @Override
  public boolean isClosed() {
    return closed;
  }

  /** Frees the cache (idempotent); using the session afterwards is an {@link IllegalStateException}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    arena.close();
    logits.close();
  }
}
