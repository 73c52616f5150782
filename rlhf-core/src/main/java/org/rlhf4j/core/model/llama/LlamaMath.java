package org.rlhf4j.core.model.llama;

import static org.rlhf4j.core.tensor.Blas.batchedMatmul;
import static org.rlhf4j.core.tensor.Blas.gemm;
import static org.rlhf4j.core.tensor.Blas.gemmAccumulate;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.tensor.AttentionKernels;
import org.rlhf4j.core.tensor.HeadKernels;
import org.rlhf4j.core.tensor.LlamaKernels;
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
  private final AttentionKernels attn;
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
  /** Where the frozen base's norm-gain and head gradients go when they are not kept ([d], [d], [1]). */
  private Tensor gainScratch;
  private Tensor headWScratch;
  private Tensor headBScratch;

  LlamaMath(LlamaConfig config, DataType type) {
    this.c = config;
    this.lk = LlamaKernels.of(type);
    this.attn = AttentionKernels.of(type);
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
      lk.rmsNorm(a.in, p.inputNorm(), a.xn1, a.rstd1, n, d, eps);
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
      attn.splitHeads(ws.q2, a.q, b, t, h, dh); // [b*H, T, dh]
      attn.splitHeads(ws.k2, a.k, b, t, kv, dh); // [b*KV, T, dh]
      attn.splitHeads(ws.v2, a.v, b, t, kv, dh);
      lk.rope(a.q, cos, sin, ws.positions, b, h, t, dh, false);
      lk.rope(a.k, cos, sin, ws.positions, b, kv, t, dh, false);
      Tensor qg = a.q.reshape((long) b * kv, (long) rep * t, dh);
      Tensor attg = a.att.reshape((long) b * kv, (long) rep * t, t);
      batchedMatmul(qg, a.k, attg, false, true); // scores [b*KV, rep*T, T]
      attn.causalSoftmax(a.att, ws.keyMask, b, h, t, attnScale);
      batchedMatmul(attg, a.v, ws.yh.reshape((long) b * kv, (long) rep * t, dh), false, false); // [b*H, T, dh]
      attn.mergeHeads(ws.yh, a.y, b, t, h, dh); // [n, qd]
      a.mid.array().assign(a.in.array());
      gemmAccumulate(a.y, p.wo(), a.mid, false, true, ways); // mid = in + y Wo^T
      if (ad != null) {
        ad.forward(modules[l][O], a.y, a.mid, ways);
      }
      // --- SwiGLU MLP on RMSNorm(mid)
      lk.rmsNorm(a.mid, p.postNorm(), a.xn2, a.rstd2, n, d, eps);
      gemm(a.xn2, p.wGate(), a.gate, false, true, ways); // [n, F]
      gemm(a.xn2, p.wUp(), a.up, false, true, ways);
      if (ad != null) {
        ad.forward(modules[l][GATE], a.xn2, a.gate, ways);
        ad.forward(modules[l][UP], a.xn2, a.up, ways);
      }
      lk.siluGate(a.gate, a.up, a.act, n * f);
      out.array().assign(a.mid.array());
      gemmAccumulate(a.act, p.wDown(), out, false, true, ways); // out = mid + act Wdown^T
      if (ad != null) {
        ad.forward(modules[l][DOWN], a.act, out, ways);
      }
    }
    lk.rmsNorm(ws.last, w.norm, ws.hidden, ws.rstdF, n, d, eps);
  }

  /** {@code logits [n, V] = hidden W_lm^T}. */
  void logits(LlamaWorkspace ws, LlamaWeights w, int ways) {
    gemm(ws.hidden, w.lmHead, ws.logits, false, true, ways);
    if (ws.adapted) {
      adapters.forward(LM_HEAD, ws.hidden, ws.logits, ways);
    }
  }

  /** Per-token log-probabilities and entropies at a temperature; needs {@link #logits} first. */
  void tokenLogProbs(LlamaWorkspace ws, double invTemperature, Tensor logp, Tensor entropy) {
    head.tokenLogProbs(ws.logits, ws.ids, invTemperature, logp, entropy, ws.lse, ws.b, ws.t, c.vocabSize());
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
  void logitsGradient(LlamaWorkspace ws, double invTemperature, Tensor entropy, Tensor gLogp, Tensor gEntropy, Tensor extraDLogits) {
    if (gLogp != null || gEntropy != null) {
      head.tokenLogProbsBackward(ws.logits, ws.ids, invTemperature, ws.lse, entropy, gLogp, gEntropy, ws.dLogits, ws.b, ws.t, c.vocabSize());
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
    int rep = h / kv;
    int f = c.intermediateSize();
    long bkv = (long) b * kv;
    long rt = (long) rep * t;
    LinearAdapters ad = ws.adapted ? adapters : null;
    // with adapters on a frozen base, the base weights get no gradients
    boolean base = ad == null || !ad.freezesBase();
    if (!base && gainScratch == null) {
      DataType type = ws.dResid.dataType();
      gainScratch = Tensor.of(Nd4j.create(type, d));
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
    lk.rmsNormBackward(ws.dHidden, ws.last, ws.rstdF, w.norm, ws.dResid, base ? g.norm : gainScratch, n, d);
    for (int l = c.layers() - 1; l >= 0; l--) {
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
      lk.siluGateBackward(ws.dAct, a.gate, a.up, ws.dGate, ws.dUp, n * f);
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
      lk.rmsNormBackward(ws.dXn, a.mid, a.rstd2, p.postNorm(), ws.dResid, base ? gp.postNorm() : gainScratch, n, d); // dResid = dL/dmid
      // --- attention: mid = in + merge(softmax(rope(q) rope(k)^T / sqrt(dh)) v) Wo^T
      if (base) {
        gemmAccumulate(ws.dResid, a.y, gp.wo(), true, false, ways); // [d, n] x [n, qd]
      }
      gemm(ws.dResid, p.wo(), ws.dY, false, false, ways); // [n, qd]
      if (ad != null) {
        ad.backward(modules[l][O], a.y, ws.dResid, ws.dY, ways);
      }
      attn.splitHeads(ws.dY, ws.dyh, b, t, h, dh); // [b*H, T, dh]
      Tensor dyg = ws.dyh.reshape(bkv, rt, dh);
      Tensor attg = a.att.reshape(bkv, rt, t);
      Tensor dAttg = ws.dAtt.reshape(bkv, rt, t);
      batchedMatmul(dyg, a.v, dAttg, false, true); // dP = dY V^T [b*KV, rep*T, T]
      batchedMatmul(attg, dyg, ws.dv, true, false); // dV = P^T dY [b*KV, T, dh]
      attn.causalSoftmaxBackward(a.att, ws.dAtt, b, h, t, attnScale); // dS
      batchedMatmul(dAttg, a.k, ws.dq.reshape(bkv, rt, dh), false, false); // dQ = dS K
      batchedMatmul(dAttg, a.q.reshape(bkv, rt, dh), ws.dk, true, false); // dK = dS^T Q
      lk.rope(ws.dq, cos, sin, ws.positions, b, h, t, dh, true);
      lk.rope(ws.dk, cos, sin, ws.positions, b, kv, t, dh, true);
      attn.mergeHeads(ws.dq, ws.dq2, b, t, h, dh); // [n, qd]
      attn.mergeHeads(ws.dk, ws.dk2, b, t, kv, dh); // [n, kvd]
      attn.mergeHeads(ws.dv, ws.dv2, b, t, kv, dh);
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
      gemm(ws.dq2, p.wq(), ws.dXn, false, false, ways); // [n, qd] x [qd, d]
      gemmAccumulate(ws.dk2, p.wk(), ws.dXn, false, false, ways);
      gemmAccumulate(ws.dv2, p.wv(), ws.dXn, false, false, ways);
      if (ad != null) {
        ad.backward(modules[l][Q], a.xn1, ws.dq2, ws.dXn, ways);
        ad.backward(modules[l][K], a.xn1, ws.dk2, ws.dXn, ways);
        ad.backward(modules[l][V], a.xn1, ws.dv2, ws.dXn, ways);
      }
      lk.rmsNormBackward(ws.dXn, a.in, a.rstd1, p.inputNorm(), ws.dResid, base ? gp.inputNorm() : gainScratch, n, d); // dResid = dL/din
    }
    if (base) {
      lk.embedBackward(ws.ids, ws.dResid, g.embed, n, d);
    }
  }
}
