package org.rlhf4j.core.model.gpt2;

import static org.rlhf4j.core.tensor.Blas.gemm;
import static org.rlhf4j.core.tensor.Blas.gemmAt;
import static org.rlhf4j.core.tensor.Blas.gemmAccumulate;

import org.nd4j.linalg.api.buffer.DataType;
import org.rlhf4j.core.tensor.AttentionKernels;
import org.rlhf4j.core.tensor.Blas;
import org.rlhf4j.core.tensor.HeadKernels;
import org.rlhf4j.core.tensor.NormKernels;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.PointwiseKernels;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The forward and backward pass of the GPT over one shard of a batch, written out by hand: BLAS
 * for the matrix products, Java kernels for everything else. Reads top to bottom like nanoGPT's
 * {@code forward}; the backward mirrors it in reverse. Shapes: {@code n = b*T} rows, {@code d} model
 * width, {@code F = 4d}, {@code H} heads of width {@code dh}, {@code V} vocabulary.
 */
final class ShardMath {
  private final GptConfig c;
  private final NormKernels norm;
  private final AttentionKernels attn;
  private final PointwiseKernels pw;
  private final HeadKernels head;
  private final double attnScale;

  ShardMath(GptConfig config, DataType type) {
    this.modules = new String[config.layers()][];
    for (int l = 0; l < config.layers(); l++) {
      String p = "transformer.h." + l + ".";
      modules[l] = new String[] {p + "attn.c_attn", p + "attn.c_proj", p + "mlp.c_fc", p + "mlp.c_proj"};
    }
    this.c = config;
    this.norm = NormKernels.of(type);
    this.attn = AttentionKernels.of(type);
    this.pw = PointwiseKernels.of(type);
    this.head = HeadKernels.of(type);
    this.attnScale = 1.0 / Math.sqrt(config.headDim());
  }

  /** Work on the index range {@code [h0, h1)} (of the {@code b*H} attention heads, or of rows). */
  private interface HeadRange {
    void run(int h0, int h1);
  }

  /** Work on head range number {@code part}, {@code [h0, h1)} of the {@code b*H} attention heads. */
  private interface HeadPart {
    void run(int part, int h0, int h1);
  }

  /**
   * Runs {@code body} over all {@code b*H} heads: at once (part 0) when the shard has one thread or
   * the work is small, else (then the shard holds one sequence) split into {@code ws.ways} contiguous
   * head ranges on as many threads (at most {@link ShardWorkspace}'s head blocks).
   */
  private void overHeads(ShardWorkspace ws, HeadPart body) {
    int heads = ws.b * c.heads();
    long work = (long) heads * ws.t * ws.t * c.headDim(); // multiply-adds of one of the products
    int parts = ws.b == 1 && work >= Blas.minSplitWork() ? Math.min(ws.ways, heads) : 1;
    if (parts <= 1) {
      body.run(0, 0, heads);
      return;
    }
    Parallel.forEach(parts, p -> body.run(p, heads * p / parts, heads * (p + 1) / parts));
  }

  /**
   * The row blocks of a causal attention product over {@code t} positions: two halves from 16
   * positions on (3/4 of the full products' work; more blocks would make the products too small for
   * BLAS to run them at speed), else one block.
   */
  static int[] causalCuts(int t) {
    return t >= 16 ? new int[] {0, t / 2, t} : new int[] {0, t};
  }

  /**
   * Element-wise rows worth splitting (tanh and exp per element): at least this many elements, twice
   * {@link Blas#minSplitWork()} (16k by default; tests lower it with the products' threshold).
   */
  private static long minRowSplitElements() {
    return 2 * Blas.minSplitWork();
  }

  /**
   * Rows of cheaper element-wise work (LayerNorm, bias additions: a few nanoseconds per element, e.g.
   * one sequence of 64 positions at width 128) worth splitting: half of {@link Blas#minSplitWork()}
   * elements (4k by default).
   */
  private static long minCheapSplitElements() {
    return Math.max(1, Blas.minSplitWork() / 2);
  }

  /**
   * Runs {@code body} over rows {@code [0, n)} of an element-wise kernel on {@code [n, width]}: at
   * once, or in {@code ways} contiguous row blocks on as many threads when the shard has spare
   * threads and the work is large enough.
   */
  private static void overRows(int ways, int n, int width, HeadRange body) {
    overRows(ways, n, width, minRowSplitElements(), body);
  }

  /** {@link #overRows} for work of at least {@code minElements} elements (fewer: one thread). */
  private static void overRows(int ways, int n, int width, long minElements, HeadRange body) {
    int parts = rowParts(ways, n, width, minElements);
    if (parts <= 1) {
      body.run(0, n);
      return;
    }
    Parallel.forEach(parts, p -> body.run(n * p / parts, n * (p + 1) / parts));
  }

  private static int rowParts(int ways, int n, int width, long minElements) {
    return (long) n * width >= minElements ? Math.min(ways, n) : 1;
  }

  /**
   * LayerNorm of {@code x [n, d]} into {@code out}, saving {@code hat} and {@code rstd}: rows split
   * over {@code ways} threads (each row is normalised alone, so the result does not depend on the
   * split).
   */
  private void layerNorm(int ways, Tensor x, Tensor gamma, Tensor beta, Tensor out, Tensor hat, Tensor rstd, int n) {
    int d = c.dModel();
    overRows(ways, n, d, minCheapSplitElements(), (r0, r1) -> norm.layerNorm(
        x.rows(r0, r1), gamma, beta, out.rows(r0, r1), hat.rows(r0, r1), rstd.rows(r0, r1), r1 - r0, d, c.layerNormEps()));
  }

  /** {@code dst = src + bias} per row, rows split over {@code ways} threads. */
  private void copyAddBias(int ways, Tensor src, Tensor bias, Tensor dst, int n, int cols) {
    overRows(ways, n, cols, minCheapSplitElements(), (r0, r1) -> pw.copyAddBias(src.rows(r0, r1), bias, dst.rows(r0, r1), r1 - r0, cols));
  }

  /**
   * The LayerNorm backward ({@link NormKernels#layerNormBackward}), rows split over {@code ws.ways}
   * threads: each block's input gradient is its own; the gains' and biases' gradients are summed per
   * block into {@code ws.normPartials} and then added to {@code dGamma}, {@code dBeta} in block order,
   * so the result depends on the number of blocks only.
   */
  private void layerNormBackward(ShardWorkspace ws, Tensor dy, Tensor hat, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, Tensor dBeta, int n) {
    int d = c.dModel();
    int parts = Math.min(rowParts(ws.ways, n, d, minCheapSplitElements()), ShardWorkspace.MAX_NORM_PARTS);
    if (parts <= 1) {
      norm.layerNormBackward(dy, hat, rstd, gamma, dx, dGamma, dBeta, n, d);
      return;
    }
    Tensor partials = ws.normPartials; // rows [0, parts): dGamma blocks; [parts, 2 parts): dBeta blocks
    Parallel.forEach(parts, p -> {
      int r0 = n * p / parts;
      int r1 = n * (p + 1) / parts;
      Tensor pg = partials.rows(p, p + 1);
      Tensor pb = partials.rows(parts + p, parts + p + 1);
      pg.zero();
      pb.zero();
      norm.layerNormBackward(dy.rows(r0, r1), hat.rows(r0, r1), rstd.rows(r0, r1), gamma, dx.rows(r0, r1), pg, pb, r1 - r0, d);
    });
    pw.sumRows(partials.rows(0, parts), dGamma, parts, d);
    pw.sumRows(partials.rows(parts, 2 * parts), dBeta, parts, d);
  }

  /** Work given a number of threads to use inside it. */
  private interface WithWays {
    void run(int ways);
  }

  /**
   * Runs two independent parts of the backward pass (a layer's weight gradient and its input
   * gradient, products of the same size) at the same time, each on half of the shard's {@code ways}
   * threads, when the shard has two or more and a product is worth a thread ({@code work} multiply-
   * adds each, at least {@link Blas#minSplitWork()}); else one after the other on all of them. Two
   * whole products keep BLAS at the speed of its larger blocks, where splitting each product in two
   * halves their size (a batch of one short sequence: [64, 128] x [128, 512]). Each part writes its
   * own outputs, so the result does not depend on which runs first.
   */
  private static void both(int ways, long work, WithWays first, WithWays second) {
    both(ways, work, first, second, false);
  }

  /** {@link #both}; on one thread, {@code second} first if {@code secondFirst}. */
  private static void both(int ways, long work, WithWays first, WithWays second, boolean secondFirst) {
    if (ways < 2 || work < Blas.minSplitWork()) {
      (secondFirst ? second : first).run(ways);
      (secondFirst ? first : second).run(ways);
      return;
    }
    int w0 = (ways + 1) / 2;
    int w1 = ways / 2;
    Parallel.forEach(2, i -> (i == 0 ? first : second).run(i == 0 ? w0 : w1));
  }

  /**
   * The backward of one Conv1D layer {@code y = x W + b} ({@code x [n, in]}, {@code W [in, out]}, the
   * upstream gradient {@code dy [n, out]}): {@code dx = dy W^T} plus the adapter's share ({@code ad}
   * may be null), and unless the base is frozen ({@code base} false) {@code gW += x^T dy}, {@code gB +=
   * sum of dy's rows}; the two products at once ({@link #both}).
   */
  private void linearBackward(int ways, org.rlhf4j.core.model.LinearAdapters ad, String module, boolean base, Tensor x, Tensor dy,
      Tensor w, Tensor gW, Tensor gB, Tensor dx, int n, SharedMatrixGradients shared, int layer, int k) {
    int in = (int) w.size(0);
    int out = (int) w.size(1);
    both(ways, base ? (long) n * in * out : 0, kk -> {
      if (base) {
        pw.sumRows(dy, gB, n, out);
        if (shared == null) {
          gemmAccumulate(x, dy, gW, true, false, kk); // [in, n] x [n, out]
        } else {
          Tensor into = shared.acquire(layer, k);
          gemmAccumulate(x, dy, into, true, false, kk); // [in, n] x [n, out], after the shards before this one
          shared.release(layer, k);
        }
      }
    }, kk -> {
      gemm(dy, w, dx, false, true, kk); // [n, out] x [out, in]
      if (ad != null) {
        ad.backward(module, x, dy, dx, kk);
      }
    }, shared != null && base && shared.waits());
  }

  /**
   * A block's attention over its key/value source: from the rows' projections {@code qkv [n, 3d]}
   * (bias not yet added) to the heads' outputs, merged, in {@code y [n, d]}. The full pass attends
   * over the batch's own keys; a decode step appends to and attends over its cache.
   */
  /** Hugging Face module names of each block's Conv1D layers: c_attn, attn.c_proj, c_fc, mlp.c_proj. */
  final String[][] modules;

  interface Attention {
    void attend(int layer, Tensor qkv, Tensor qkvBias, Tensor y);
  }

  /**
   * One pre-LayerNorm transformer block over {@code n} rows, the only definition of GPT-2's block
   * (used by the full pass and the cached decode step): {@code mid = x + attn(LN1(x)) Wproj + bproj},
   * {@code out = mid + gelu(LN2(mid) Wfc + bfc) Wfc2 + bfc2}. Writes the activations to {@code a}
   * ({@code a.out} is the block's output) and uses {@code qkv [n, 3d]} as scratch.
   */
  void block(int layer, Weights.Block p, Tensor x, BlockActs a, Tensor qkv, int n, int ways, Attention attention) {
    block(layer, p, x, a, qkv, n, ways, attention, null, false);
  }

  /**
   * {@link #block} with LoRA adapters ({@code ad}, may be null) added after each Conv1D product:
   * keeping what their backward needs ({@code keep}, the full pass) or not (a decode step).
   */
  void block(int layer, Weights.Block p, Tensor x, BlockActs a, Tensor qkv, int n, int ways, Attention attention,
      org.rlhf4j.core.model.LinearAdapters ad, boolean keep) {
    String[] mod = modules[layer];
    int d = c.dModel();
    int f = c.mlpDim();
    // --- causal self-attention on LN1(x)
    layerNorm(ways, x, p.ln1W(), p.ln1B(), a.ln1Out, a.ln1Hat, a.ln1Rstd, n);
    gemm(a.ln1Out, p.attnW(), qkv, false, false, ways); // [n, 3d]
    adapt(ad, keep, mod[0], a.ln1Out, qkv, ways);
    attention.attend(layer, qkv, p.attnB(), a.y); // [n, d]
    copyAddBias(ways, x, p.projB(), a.mid, n, d);
    gemmAccumulate(a.y, p.projW(), a.mid, false, false, ways); // mid = x + y Wproj + bproj
    adapt(ad, keep, mod[1], a.y, a.mid, ways);
    // --- MLP on LN2(mid)
    layerNorm(ways, a.mid, p.ln2W(), p.ln2B(), a.ln2Out, a.ln2Hat, a.ln2Rstd, n);
    gemm(a.ln2Out, p.fcW(), a.fcPre, false, false, ways); // [n, F]
    adapt(ad, keep, mod[2], a.ln2Out, a.fcPre, ways);
    if (keep) { // fcPre becomes GELU's slope, for the backward pass
      overRows(ways, n, f, (r0, r1) -> pw.biasGeluSavingSlope(a.fcPre.rows(r0, r1), p.fcB(), a.fcAct.rows(r0, r1), r1 - r0, f));
    } else {
      overRows(ways, n, f, (r0, r1) -> pw.biasGelu(a.fcPre.rows(r0, r1), p.fcB(), a.fcAct.rows(r0, r1), r1 - r0, f));
    }
    copyAddBias(ways, a.mid, p.fc2B(), a.out, n, d);
    gemmAccumulate(a.fcAct, p.fc2W(), a.out, false, false, ways); // out = mid + gelu(.) Wfc2 + bfc2
    adapt(ad, keep, mod[3], a.fcAct, a.out, ways);
  }

  private static void adapt(org.rlhf4j.core.model.LinearAdapters ad, boolean keep, String module, Tensor x, Tensor y, int ways) {
    if (ad == null) {
      return;
    }
    if (keep) {
      ad.forward(module, x, y, ways);
    } else {
      ad.decodeForward(module, x, y, ways);
    }
  }

  /** {@code out [n, d] = wte[ids] + wpe[positions]}. */
  void embed(int[] ids, int[] positions, Weights w, Tensor out, int n) {
    norm.embed(ids, positions, w.wte, w.wpe, out, n, c.dModel());
  }

  /** The final LayerNorm, {@code x [n, d]} to {@code out}, saving what its backward needs. */
  void finalNorm(Tensor x, Weights w, Tensor out, Tensor hat, Tensor rstd, int n) {
    norm.layerNorm(x, w.lnfW, w.lnfB, out, hat, rstd, n, c.dModel(), c.layerNormEps());
  }

  /** Runs the trunk: token ids in {@code ws.ids} to {@code ws.hidden} (final LayerNorm output). */
  void forward(ShardWorkspace ws, Weights w) {
    int b = ws.b;
    int t = ws.t;
    int n = b * t;
    int h = c.heads();
    int dh = c.headDim();
    embed(ws.ids, ws.positions, w, ws.emb, n); // x = wte[ids] + wpe[pos]
    org.rlhf4j.core.model.LinearAdapters ad = ws.adapters != null && ws.adapters.beginPass(n) ? ws.adapters : null;
    ws.adapted = ad != null;
    int d = c.dModel();
    Attention full = (layer, qkv, bias, y) -> { // over the batch's own keys, causally
      BlockActs a = ws.layers[layer];
      overRows(ws.ways, n, 3 * d, (r0, r1) -> pw.copyAddBias(qkv.rows(r0, r1), bias, qkv.rows(r0, r1), r1 - r0, 3 * d));
      // Head i = (sequence bi, head hh) reads its q, k, v where they lie in qkv [n, 3d] (row stride
      // 3d) and writes its output into its columns of y [n, d]: no copies of the heads.
      // One head at a time (its [T, T] block stays in cache from the scores to the output), and
      // causally: query rows [r0, r1) of a row block need keys [0, r1) only.
      int[] cuts = causalCuts(t);
      overHeads(ws, (part, h0, h1) -> { // per head: scores [T, T] = q k^T, softmax, y [T, dh] = P v
        for (int i = h0; i < h1; i++) {
          long q0 = (long) (i / h) * t * 3 * d + (long) (i % h) * dh;
          long y0 = (long) (i / h) * t * d + (long) (i % h) * dh;
          long s0 = (long) i * t * t;
          for (int c0 = 0; c0 + 1 < cuts.length; c0++) {
            int r0 = cuts[c0];
            int r1 = cuts[c0 + 1];
            gemmAt(false, true, r1 - r0, r1, dh, 1.0, qkv, q0 + (long) r0 * 3 * d, 3 * d, qkv, q0 + d, 3 * d, 0.0, a.att, s0 + (long) r0 * t, t);
          }
          attn.causalSoftmaxOf(a.att.rows(i, i + 1), ws.keyMask, (i / h) * t, 1, t, attnScale);
          for (int c0 = 0; c0 + 1 < cuts.length; c0++) {
            int r0 = cuts[c0];
            int r1 = cuts[c0 + 1];
            gemmAt(false, false, r1 - r0, dh, r1, 1.0, a.att, s0 + (long) r0 * t, t, qkv, q0 + 2 * d, 3 * d, 0.0, y, y0 + (long) r0 * d, d);
          }
        }
      });
    };
    Tensor x = ws.emb;
    for (int l = 0; l < c.layers(); l++) {
      block(l, w.blocks.get(l), x, ws.layers[l], ws.layers[l].qkv, n, ws.ways, full, ad, true);
      x = ws.layers[l].out;
    }
    layerNorm(ws.ways, x, w.lnfW, w.lnfB, ws.hidden, ws.lnfHat, ws.lnfRstd, n); // the final LayerNorm
  }

  /** {@code logits [n, V] = hidden wte^T} (the tied LM head). */
  void logits(ShardWorkspace ws, Weights w) {
    gemm(ws.hidden, w.wte, ws.logits, false, true, ws.ways);
  }

  /** Per-token log-probabilities and entropies at a temperature; needs {@link #logits} first. */
  void tokenLogProbs(ShardWorkspace ws, double invTemperature, Tensor logp, Tensor entropy) {
    int v = c.vocabSize();
    overRows(ws.ways, ws.b * ws.t, v, (r0, r1) -> head.tokenLogProbs(ws.logits, ws.ids, invTemperature, logp, entropy, ws.lse, ws.t, v, r0, r1));
  }

  /** {@code values [n] = hidden . w_head + b_head}. */
  void values(ShardWorkspace ws, Weights w, Tensor values) {
    Tensor hw = ws.adapted ? ws.adapters.parameter("scalar_head.weight", w.headW) : w.headW;
    Tensor hb = ws.adapted ? ws.adapters.parameter("scalar_head.bias", w.headB) : w.headB;
    pw.scalarHead(ws.hidden, hw, hb, values, ws.b * ws.t, c.dModel());
  }

  /**
   * Converts upstream gradients of the log-probabilities and entropies into {@code ws.dLogits};
   * {@code extraDLogits} (a gradient of the raw logits, may be {@code null}) is added.
   */
  void logitsGradient(ShardWorkspace ws, double invTemperature, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor extraDLogits) {
    if (gLogp != null || gEntropy != null) {
      int v = c.vocabSize();
      overRows(ws.ways, ws.b * ws.t, v,
          (r0, r1) -> head.tokenLogProbsBackward(ws.logits, ws.ids, invTemperature, ws.lse, entropy, gLogp, gEntropy, ws.dLogits, ws.t, v, r0, r1));
      if (extraDLogits != null) {
        ws.dLogits.array().addi(extraDLogits.array());
      }
    } else {
      ws.dLogits.array().assign(extraDLogits.array());
    }
  }

  /**
   * The blocks' weight matrices' gradients that all shards add into one buffer, one shard after
   * another in shard order (so the sums do not depend on timing): {@link #acquire} waits for the shards
   * before this one and returns the tensor to add into; {@link #release} hands it to the next.
   */
  interface SharedMatrixGradients {
    /** Block {@code layer}'s matrix {@code k} ({@link Weights.Block#tensor} index 2, 4, 8 or 10), once the shards before this one have added theirs. */
    Tensor acquire(int layer, int k);

    /** Lets the next shard add its gradient of the matrix. */
    void release(int layer, int k);

    /** Whether this shard may have to wait (it is not first): it computes a layer's input gradient before the weight gradient. */
    boolean waits();
  }

  /**
   * Backpropagates to the parameters, adding to {@code g}, and the blocks' weight matrices' gradients
   * through {@code shared} (null: into {@code g}). {@code dLogits} (in {@code ws.dLogits}, when {@code
   * hasDLogits}) and {@code dValues} (may be {@code null}) may each be absent.
   */
  void backward(ShardWorkspace ws, Weights w, Weights g, boolean hasDLogits, Tensor dValues, SharedMatrixGradients shared) {
    int b = ws.b;
    int t = ws.t;
    int n = b * t;
    int d = c.dModel();
    int h = c.heads();
    int dh = c.headDim();
    int f = c.mlpDim();
    org.rlhf4j.core.model.LinearAdapters ad = ws.adapted ? ws.adapters : null;
    boolean base = ad == null || !ad.freezesBase(); // adapters on a frozen base: no weight gradients
    // --- heads -> dHidden [n, d]
    ws.dHidden.zero();
    if (hasDLogits) {
      both(ws.ways, base ? (long) n * c.vocabSize() * d : 0,
          k -> gemmAccumulate(ws.dLogits, w.wte, ws.dHidden, false, false, k), // [n, V] x [V, d]
          k -> {
            if (base) {
              gemmAccumulate(ws.dLogits, ws.hidden, g.wte, true, false, k); // dWte += dLogits^T hidden
            }
          });
    }
    if (dValues != null) {
      if (ad != null) {
        pw.scalarHeadBackward(dValues, ws.hidden, ad.parameter("scalar_head.weight", w.headW), ws.dHidden,
            ad.parameterGradient("scalar_head.weight", g.headW), ad.parameterGradient("scalar_head.bias", g.headB), n, d);
      } else {
        pw.scalarHeadBackward(dValues, ws.hidden, w.headW, ws.dHidden, g.headW, g.headB, n, d);
      }
    }
    // --- final LayerNorm
    ws.dResid.zero();
    layerNormBackward(ws, ws.dHidden, ws.lnfHat, ws.lnfRstd, w.lnfW, ws.dResid, g.lnfW, g.lnfB, n);
    for (int l = c.layers() - 1; l >= 0; l--) {
      Weights.Block p = w.blocks.get(l);
      Weights.Block gp = g.blocks.get(l);
      BlockActs a = ws.layers[l];
      String[] mod = modules[l];
      // --- MLP: out = mid + gelu(LN2(mid) Wfc + bfc) Wfc2 + bfc2 ; ws.dResid holds dL/dout
      linearBackward(ws.ways, ad, mod[3], base, a.fcAct, ws.dResid, p.fc2W(), gp.fc2W(), gp.fc2B(), ws.dFc, n, shared, l, 10); // dAct [n, F]
      overRows(ws.ways, n, f, (r0, r1) -> pw.multiply(ws.dFc.rows(r0, r1), a.fcPre.rows(r0, r1), ws.dFc.rows(r0, r1), (r1 - r0) * f)); // dPre = dAct gelu'(pre)
      linearBackward(ws.ways, ad, mod[2], base, a.ln2Out, ws.dFc, p.fcW(), gp.fcW(), gp.fcB(), ws.dLn, n, shared, l, 8); // dLn [n, d]
      layerNormBackward(ws, ws.dLn, a.ln2Hat, a.ln2Rstd, p.ln2W(), ws.dResid, gp.ln2W(), gp.ln2B(), n);
      // --- attention: mid = x + merge(softmax(q k^T / sqrt(dh)) v) Wproj + bproj ; dResid = dL/dmid
      linearBackward(ws.ways, ad, mod[1], base, a.y, ws.dResid, p.projW(), gp.projW(), gp.projB(), ws.dY, n, shared, l, 4); // dY [n, d]
      // Per head, reading and writing the heads where they lie: dY [n, d], qkv and dQkv [n, 3d].
      Tensor qkv = a.qkv;
      // One head at a time, causally: query rows [r0, r1) see keys [0, r1); key rows [r0, r1) are
      // seen by query rows [r0, T) (P and dS are 0 above the diagonal). Each head range reuses one
      // [T, T] block for dP and dS, head after head, in its core's cache.
      int[] cuts = causalCuts(t);
      overHeads(ws, (part, h0, h1) -> {
        Tensor dS = ws.headBlock(part); // [1, T, T]
        long e0 = (long) part * t * t;
        for (int i = h0; i < h1; i++) {
          long q0 = (long) (i / h) * t * 3 * d + (long) (i % h) * dh;
          long y0 = (long) (i / h) * t * d + (long) (i % h) * dh;
          long s0 = (long) i * t * t;
          for (int c0 = 0; c0 + 1 < cuts.length; c0++) {
            int r0 = cuts[c0];
            int r1 = cuts[c0 + 1];
            // dP = dY V^T [T, T], lower blocks
            gemmAt(false, true, r1 - r0, r1, dh, 1.0, ws.dY, y0 + (long) r0 * d, d, qkv, q0 + 2 * d, 3 * d, 0.0, ws.dAtt, e0 + (long) r0 * t, t);
            // dV rows [r0, r1) = P[r0.., r0..r1)^T dY[r0..]
            gemmAt(true, false, r1 - r0, dh, t - r0, 1.0, a.att, s0 + (long) r0 * t + r0, t, ws.dY, y0 + (long) r0 * d, d, 0.0, ws.dQkv,
                q0 + 2 * d + (long) r0 * 3 * d, 3 * d);
          }
          attn.causalSoftmaxBackward(a.att.rows(i, i + 1), dS, 1, 1, t, attnScale); // dS
          for (int c0 = 0; c0 + 1 < cuts.length; c0++) {
            int r0 = cuts[c0];
            int r1 = cuts[c0 + 1];
            // dQ rows [r0, r1) = dS[r0..r1, 0..r1) K[0..r1)
            gemmAt(false, false, r1 - r0, dh, r1, 1.0, ws.dAtt, e0 + (long) r0 * t, t, qkv, q0 + d, 3 * d, 0.0, ws.dQkv, q0 + (long) r0 * 3 * d, 3 * d);
            // dK rows [r0, r1) = dS[r0.., r0..r1)^T Q[r0..]
            gemmAt(true, false, r1 - r0, dh, t - r0, 1.0, ws.dAtt, e0 + (long) r0 * t + r0, t, qkv, q0 + (long) r0 * 3 * d, 3 * d, 0.0, ws.dQkv,
                q0 + d + (long) r0 * 3 * d, 3 * d);
          }
        }
      });
      linearBackward(ws.ways, ad, mod[0], base, a.ln1Out, ws.dQkv, p.attnW(), gp.attnW(), gp.attnB(), ws.dLn, n, shared, l, 2); // dLn [n, d]
      layerNormBackward(ws, ws.dLn, a.ln1Hat, a.ln1Rstd, p.ln1W(), ws.dResid, gp.ln1W(), gp.ln1B(), n);
    }
    if (base) {
      norm.embedBackward(ws.ids, ws.positions, ws.dResid, g.wte, g.wpe, n, d);
    }
  }
}
