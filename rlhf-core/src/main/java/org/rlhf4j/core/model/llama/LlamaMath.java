package org.rlhf4j.core.model.llama;

import static org.rlhf4j.core.tensor.Blas.gemm;
import static org.rlhf4j.core.tensor.Blas.gemmAccumulate;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.tensor.HeadKernels;
import org.rlhf4j.core.tensor.LlamaKernels;
import org.rlhf4j.core.tensor.Parallel;
import org.rlhf4j.core.tensor.PointwiseKernels;
import org.rlhf4j.core.model.LinearAdapters;
import org.rlhf4j.core.tensor.Tensor;

/**
 * The forward and backward pass of a Llama-family model, written out by hand like GPT-2's: BLAS for
 * the matrix products, Java kernels for everything else. Reads top to bottom like Hugging Face's
 * {@code LlamaModel.forward}; the backward mirrors it in reverse. Weights keep {@code nn.Linear}'s
 * {@code [out, in]} layout, so a projection is {@code y = x W^T}.
 *
 * <p>Grouped-query attention needs no copies of the key/value heads: the {@code rep = H/KV} query
 * heads sharing a key/value head are adjacent in the {@code [b*H, T, dh]} layout, so they form one
 * {@code [rep*T, dh]} matrix per key/value head and every attention product is one batched product
 * over {@code b*KV} groups (whose backward sums over the group by itself).
 */
final class LlamaMath {
  private final LlamaConfig c;
  private final LlamaKernels lk;
  private final PointwiseKernels pw;
  private final HeadKernels head;
  private final double attnScale;
  final Tensor cos; // [contextLength, dh/2]
  final Tensor sin;
  /** LoRA adapters on the linear layers, or null. */
  LinearAdapters adapters;
  /** Hugging Face module names of each layer's projections, indexed by the {@code Q..DOWN} constants. */
  final String[][] modules;
  static final int Q = 0;
  static final int K = 1;
  static final int V = 2;
  static final int O = 3;
  static final int GATE = 4;
  static final int UP = 5;
  static final int DOWN = 6;
  static final String LM_HEAD = "lm_head";
  /** Where the frozen base's head gradients go when they are not kept ([d], [1]). */
  private Tensor headWScratch;
  private Tensor headBScratch;
  /** Per-part partial norm-gain gradients of a split RMSNorm backward, {@code [parts, d]}. */
  private Tensor gainParts;
  /**
   * The fewest elements an element-wise part is worth a thread of its own for (a hand-off costs well
   * under a microsecond with {@link Parallel}'s spinning workers; 2^14 elements take several).
   */
  static volatile long minElements = 1L << 14; // tests lower it

  LlamaMath(LlamaConfig config, DataType type) {
    this.c = config;
    this.lk = LlamaKernels.of(type);
    this.pw = PointwiseKernels.of(type);
    this.head = HeadKernels.of(type);
    this.attnScale = 1.0 / Math.sqrt(config.headDim());
    this.modules = new String[config.layers()][];
    for (int l = 0; l < config.layers(); l++) {
      String p = LlamaLayout.block(l);
      modules[l] =
          new String[] {
            p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", p + "self_attn.o_proj",
            p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj"
          };
    }
    int half = config.headDim() / 2;
    double[] inv = config.inverseFrequencies();
    double[] cs = new double[config.contextLength() * half];
    double[] sn = new double[cs.length];
    for (int p = 0; p < config.contextLength(); p++) {
      for (int i = 0; i < half; i++) {
        double angle = p * inv[i];
        cs[p * half + i] = Math.cos(angle);
        sn[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = Tensor.of(Nd4j.createFromArray(cs).reshape(config.contextLength(), half).castTo(type).dup('c'));
    this.sin = Tensor.of(Nd4j.createFromArray(sn).reshape(config.contextLength(), half).castTo(type).dup('c'));
  }

  /** Runs the trunk: {@code ws.ids} (with {@code ws.positions}, {@code ws.keyMask}) to {@code ws.hidden}. */
  void forward(LlamaWorkspace ws, LlamaWeights w, int ways) {
    int b = ws.b;
    int t = ws.t;
    int n = b * t;
    int d = c.hiddenSize();
    int h = c.heads();
    int kv = c.kvHeads();
    int dh = c.headDim();
    int rep = h / kv;
    int f = c.intermediateSize();
    double eps = c.rmsNormEps();
    LinearAdapters ad = adapters != null && adapters.beginPass(n) ? adapters : null;
    ws.adapted = ad != null;
    lk.embed(ws.ids, w.embed, ws.layers[0].in, n, d);
    for (int l = 0; l < c.layers(); l++) {
      LlamaWeights.Block p = w.blocks.get(l);
      LlamaWorkspace.LayerActs a = ws.layers[l];
      Tensor out = l + 1 < c.layers() ? ws.layers[l + 1].in : ws.last;
      // --- attention on RMSNorm(in)
      rmsNorm(a.in, p.inputNorm(), a.xn1, a.rstd1, n, d, eps, ways);
      gemm(a.xn1, p.wq(), ws.q2, false, true, ways); // [n, qd]
      gemm(a.xn1, p.wk(), ws.k2, false, true, ways); // [n, kvd]
      gemm(a.xn1, p.wv(), ws.v2, false, true, ways);
      if (ad != null) {
        ad.forward(modules[l][Q], a.xn1, ws.q2, ways);
        ad.forward(modules[l][K], a.xn1, ws.k2, ways);
        ad.forward(modules[l][V], a.xn1, ws.v2, ways);
      }
      if (c.qkvBias()) {
        lk.addBias(ws.q2, p.bq(), n, h * dh);
        lk.addBias(ws.k2, p.bk(), n, kv * dh);
        lk.addBias(ws.v2, p.bv(), n, kv * dh);
      }
      // q [b*H, T, dh], k, v [b*KV, T, dh] (rotated), att [b*H, T, T], y [n, qd]: one task per key/value group
      int[] groups = split(b * kv, ways, 1);
      Parallel.forEach(
          groups.length - 1,
          part ->
              lk.attentionForward(
                  ws.q2, ws.k2, ws.v2, cos, sin, ws.positions, ws.keyMask, a.q, a.k, a.v, a.att, ws.yh, a.y, b, t, h, kv, dh,
                  attnScale, groups[part], groups[part + 1], part));
      a.mid.array().assign(a.in.array());
      gemmAccumulate(a.y, p.wo(), a.mid, false, true, ways); // mid = in + y Wo^T
      if (ad != null) {
        ad.forward(modules[l][O], a.y, a.mid, ways);
      }
      // --- SwiGLU MLP on RMSNorm(mid)
      rmsNorm(a.mid, p.postNorm(), a.xn2, a.rstd2, n, d, eps, ways);
      gemm(a.xn2, p.wGate(), a.gate, false, true, ways); // [n, F]
      gemm(a.xn2, p.wUp(), a.up, false, true, ways);
      if (ad != null) {
        ad.forward(modules[l][GATE], a.xn2, a.gate, ways);
        ad.forward(modules[l][UP], a.xn2, a.up, ways);
      }
      overRows(n, f, ways, (r0, r1) -> lk.siluGate(a.gate.rows(r0, r1), a.up.rows(r0, r1), a.act.rows(r0, r1), (r1 - r0) * f));
      out.array().assign(a.mid.array());
      gemmAccumulate(a.act, p.wDown(), out, false, true, ways); // out = mid + act Wdown^T
      if (ad != null) {
        ad.forward(modules[l][DOWN], a.act, out, ways);
      }
    }
    rmsNorm(ws.last, w.norm, ws.hidden, ws.rstdF, n, d, eps, ways);
  }

  /** {@code logits [n, V] = hidden W_lm^T}. */
  void logits(LlamaWorkspace ws, LlamaWeights w, int ways) {
    gemm(ws.hidden, w.lmHead, ws.logits, false, true, ways);
    if (ws.adapted) {
      adapters.forward(LM_HEAD, ws.hidden, ws.logits, ways);
    }
  }

  /** Per-token log-probabilities and entropies at a temperature; needs {@link #logits} first. */
  void tokenLogProbs(LlamaWorkspace ws, double invTemperature, Tensor logp, Tensor entropy, int ways) {
    int v = c.vocabSize();
    overRows(ws.b * ws.t, v, ways, (r0, r1) -> head.tokenLogProbs(ws.logits, ws.ids, invTemperature, logp, entropy, ws.lse, ws.t, v, r0, r1));
  }

  /** {@code values [n] = hidden . w_head + b_head}. */
  void values(LlamaWorkspace ws, LlamaWeights w, Tensor values) {
    Tensor hw = ws.adapted ? adapters.parameter(LlamaLayout.SCALAR_W, w.headW) : w.headW;
    Tensor hb = ws.adapted ? adapters.parameter(LlamaLayout.SCALAR_B, w.headB) : w.headB;
    pw.scalarHead(ws.hidden, hw, hb, values, ws.b * ws.t, c.hiddenSize());
  }

  /**
   * Converts upstream gradients of the log-probabilities and entropies into {@code ws.dLogits};
   * {@code extraDLogits} (a gradient of the raw logits, may be {@code null}) is added.
   */
  void logitsGradient(
      LlamaWorkspace ws, double invTemperature, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor extraDLogits, int ways) {
    if (gLogp != null || gEntropy != null) {
      int v = c.vocabSize();
      overRows(ws.b * ws.t, v, ways, (r0, r1) -> head.tokenLogProbsBackward(
          ws.logits, ws.ids, invTemperature, ws.lse, entropy, gLogp, gEntropy, ws.dLogits, ws.t, v, r0, r1));
      if (extraDLogits != null) {
        ws.dLogits.array().addi(extraDLogits.array());
      }
    } else {
      ws.dLogits.array().assign(extraDLogits.array());
    }
  }

  /**
   * Backpropagates to the parameters, adding to {@code g} ({@code null} when adapters on a frozen base
   * are the only trained tensors); {@code ws.dLogits} is used when {@code
   * hasDLogits}, {@code dValues [n]} may be {@code null}.
   */
  void backward(LlamaWorkspace ws, LlamaWeights w, LlamaWeights g, boolean hasDLogits, Tensor dValues, int ways) {
    int b = ws.b;
    int t = ws.t;
    int n = b * t;
    int d = c.hiddenSize();
    int h = c.heads();
    int kv = c.kvHeads();
    int dh = c.headDim();
    int f = c.intermediateSize();
    LinearAdapters ad = ws.adapted ? adapters : null;
    // with adapters on a frozen base, the base weights get no gradients
    boolean base = ad == null || !ad.freezesBase();
    if (!base && headWScratch == null) {
      DataType type = ws.dResid.dataType();
      headWScratch = Tensor.of(Nd4j.create(type, d));
      headBScratch = Tensor.of(Nd4j.create(type, 1));
    }
    // --- heads -> dHidden [n, d]
    ws.dHidden.zero();
    if (hasDLogits) {
      gemmAccumulate(ws.dLogits, w.lmHead, ws.dHidden, false, false, ways); // [n, V] x [V, d]
      if (base) {
        gemmAccumulate(ws.dLogits, ws.hidden, g.lmHead, true, false, ways); // dW_lm += dLogits^T hidden
      }
      if (ad != null) {
        ad.backward(LM_HEAD, ws.hidden, ws.dLogits, ws.dHidden, ways);
      }
    }
    if (dValues != null) {
      if (ad != null) {
        pw.scalarHeadBackward(
            dValues, ws.hidden, ad.parameter(LlamaLayout.SCALAR_W, w.headW), ws.dHidden,
            ad.parameterGradient(LlamaLayout.SCALAR_W, base ? g.headW : headWScratch),
            ad.parameterGradient(LlamaLayout.SCALAR_B, base ? g.headB : headBScratch), n, d);
      } else {
        pw.scalarHeadBackward(dValues, ws.hidden, w.headW, ws.dHidden, g.headW, g.headB, n, d);
      }
    }
    // --- final RMSNorm
    ws.dResid.zero();
    rmsNormBackward(ws.dHidden, ws.last, ws.rstdF, w.norm, ws.dResid, base ? g.norm : null, n, d, ways);
    // on a frozen base, nothing below the lowest adapted layer needs a gradient
    int lowest = base ? 0 : lowestAdaptedLayer(ad);
    for (int l = c.layers() - 1; l >= lowest; l--) {
      LlamaWeights.Block p = w.blocks.get(l);
      LlamaWeights.Block gp = base ? g.blocks.get(l) : null;
      LlamaWorkspace.LayerActs a = ws.layers[l];
      // --- MLP: out = mid + (silu(xn2 Wg^T) * (xn2 Wu^T)) Wd^T ; dResid = dL/dout
      if (base) {
        gemmAccumulate(ws.dResid, a.act, gp.wDown(), true, false, ways); // [d, n] x [n, F]
      }
      gemm(ws.dResid, p.wDown(), ws.dAct, false, false, ways); // [n, d] x [d, F]
      if (ad != null) {
        ad.backward(modules[l][DOWN], a.act, ws.dResid, ws.dAct, ways);
      }
      overRows(n, f, ways, (r0, r1) -> lk.siluGateBackward(
          ws.dAct.rows(r0, r1), a.gate.rows(r0, r1), a.up.rows(r0, r1), ws.dGate.rows(r0, r1), ws.dUp.rows(r0, r1), (r1 - r0) * f));
      if (base) {
        gemmAccumulate(ws.dGate, a.xn2, gp.wGate(), true, false, ways); // [F, n] x [n, d]
        gemmAccumulate(ws.dUp, a.xn2, gp.wUp(), true, false, ways);
      }
      gemm(ws.dGate, p.wGate(), ws.dXn, false, false, ways); // [n, F] x [F, d]
      gemmAccumulate(ws.dUp, p.wUp(), ws.dXn, false, false, ways);
      if (ad != null) {
        ad.backward(modules[l][GATE], a.xn2, ws.dGate, ws.dXn, ways);
        ad.backward(modules[l][UP], a.xn2, ws.dUp, ws.dXn, ways);
      }
      rmsNormBackward(ws.dXn, a.mid, a.rstd2, p.postNorm(), ws.dResid, base ? gp.postNorm() : null, n, d, ways); // dResid = dL/dmid
      // --- attention: mid = in + merge(softmax(rope(q) rope(k)^T / sqrt(dh)) v) Wo^T
      if (base) {
        gemmAccumulate(ws.dResid, a.y, gp.wo(), true, false, ways); // [d, n] x [n, qd]
      }
      gemm(ws.dResid, p.wo(), ws.dY, false, false, ways); // [n, qd]
      if (ad != null) {
        ad.backward(modules[l][O], a.y, ws.dResid, ws.dY, ways);
      }
      // dP = dY V^T, dV = P^T dY, dS, dQ = dS K, dK = dS^T Q, rotations undone: one task per key/value group
      int[] groups = split(b * kv, ways, 1);
      Parallel.forEach(
          groups.length - 1,
          part ->
              lk.attentionBackward(
                  ws.dY, cos, sin, ws.positions, a.q, a.k, a.v, a.att, ws.dyh, ws.dAtt, ws.dq, ws.dk, ws.dv, ws.dq2, ws.dk2, ws.dv2,
                  b, t, h, kv, dh, attnScale, groups[part], groups[part + 1], part));
      if (c.qkvBias() && base) {
        pw.sumRows(ws.dq2, gp.bq(), n, h * dh);
        pw.sumRows(ws.dk2, gp.bk(), n, kv * dh);
        pw.sumRows(ws.dv2, gp.bv(), n, kv * dh);
      }
      if (base) {
        gemmAccumulate(ws.dq2, a.xn1, gp.wq(), true, false, ways); // [qd, n] x [n, d]
        gemmAccumulate(ws.dk2, a.xn1, gp.wk(), true, false, ways);
        gemmAccumulate(ws.dv2, a.xn1, gp.wv(), true, false, ways);
      }
      // the block's input gradient is needed by the layers below (or the embedding)
      boolean below = base || l > lowest;
      if (below) {
        gemm(ws.dq2, p.wq(), ws.dXn, false, false, ways); // [n, qd] x [qd, d]
        gemmAccumulate(ws.dk2, p.wk(), ws.dXn, false, false, ways);
        gemmAccumulate(ws.dv2, p.wv(), ws.dXn, false, false, ways);
      }
      if (ad != null) {
        ad.backward(modules[l][Q], a.xn1, ws.dq2, below ? ws.dXn : null, ways);
        ad.backward(modules[l][K], a.xn1, ws.dk2, below ? ws.dXn : null, ways);
        ad.backward(modules[l][V], a.xn1, ws.dv2, below ? ws.dXn : null, ways);
      }
      if (below) {
        rmsNormBackward(ws.dXn, a.in, a.rstd1, p.inputNorm(), ws.dResid, base ? gp.inputNorm() : null, n, d, ways); // dResid = dL/din
      }
    }
    if (base) {
      lk.embedBackward(ws.ids, ws.dResid, g.embed, n, d);
    }
  }

  /**
   * Edges {@code e[0] = 0 < e[1] < ... < e[parts] = units} of at most {@code ways} contiguous parts of
   * at least {@code minUnits} units each (one part when there is too little work to split); the same
   * edges for the same arguments, so results depend on the thread count only.
   */
  static int[] split(int units, int ways, int minUnits) {
    int parts = Math.max(1, Math.min(ways, units / Math.max(1, minUnits)));
    int[] edges = new int[parts + 1];
    for (int p = 0; p <= parts; p++) {
      edges[p] = (int) ((long) units * p / parts);
    }
    return edges;
  }

  /** The fewest rows of width {@code cols} worth a part of their own. */
  private static int minRows(long cols) {
    return (int) Math.max(1, minElements / Math.max(1, cols));
  }

  /** Rows {@code [r0, r1)} of a row-wise kernel's work. */
  private interface RowRange {
    void run(int r0, int r1);
  }

  /**
   * Runs {@code body} over rows {@code [0, n)} of width {@code cols} in the contiguous blocks of
   * {@link #split} (at least {@link #minRows} each) on up to {@code ways} threads.
   */
  private static void overRows(int n, long cols, int ways, RowRange body) {
    int[] rows = split(n, ways, minRows(cols));
    Parallel.forEach(rows.length - 1, part -> body.run(rows[part], rows[part + 1]));
  }

  /** {@link LlamaKernels#rmsNorm} over row blocks on up to {@code ways} threads. */
  private void rmsNorm(Tensor x, Tensor gamma, Tensor out, Tensor rstd, int n, int d, double eps, int ways) {
    overRows(n, d, ways, (r0, r1) -> lk.rmsNorm(x.rows(r0, r1), gamma, out.rows(r0, r1), rstd.rows(r0, r1), r1 - r0, d, eps));
  }

  /**
   * {@link LlamaKernels#rmsNormBackward} over row blocks on up to {@code ways} threads; each part sums
   * its rows' gain gradient apart, and the parts are added to {@code dGamma} in order (so the result
   * depends on the thread count only). {@code dGamma} may be null (frozen gain).
   */
  private void rmsNormBackward(Tensor dy, Tensor x, Tensor rstd, Tensor gamma, Tensor dx, Tensor dGamma, int n, int d, int ways) {
    int[] rows = split(n, ways, minRows(d));
    int parts = rows.length - 1;
    if (parts == 1) {
      lk.rmsNormBackward(dy, x, rstd, gamma, dx, dGamma, n, d);
      return;
    }
    Tensor partial = dGamma == null ? null : gainParts(parts, d, dGamma);
    Parallel.forEach(
        parts,
        part -> {
          int r0 = rows[part];
          int r1 = rows[part + 1];
          Tensor g = null;
          if (partial != null) {
            g = partial.rows(part, part + 1).reshape(d);
            g.zero();
          }
          lk.rmsNormBackward(dy.rows(r0, r1), x.rows(r0, r1), rstd.rows(r0, r1), gamma, dx.rows(r0, r1), g, r1 - r0, d);
        });
    if (partial != null) {
      pw.sumRows(partial, dGamma, parts, d); // dGamma += the parts' sums, in part order
    }
  }

  private Tensor gainParts(int parts, int d, Tensor like) {
    if (gainParts == null || gainParts.size(0) < parts || gainParts.size(1) != d || gainParts.dataType() != like.dataType()) {
      gainParts = Tensor.of(Nd4j.create(like.dataType(), parts, d));
    }
    return gainParts.rows(0, parts);
  }

  /**
   * The lowest block with an adapted module ({@code layers} if none): on a frozen base, the backward
   * pass stops there.
   */
  private int lowestAdaptedLayer(LinearAdapters ad) {
    for (int l = 0; l < c.layers(); l++) {
      for (String m : modules[l]) {
        if (ad.adapts(m)) {
          return l;
        }
      }
    }
    return c.layers();
  }
}
