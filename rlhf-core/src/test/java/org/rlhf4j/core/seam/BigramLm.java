package org.rlhf4j.core.seam;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.model.CausalLm;
import org.rlhf4j.core.model.DecodeSession;
import org.rlhf4j.core.model.FlatTensors;
import org.rlhf4j.core.model.ForwardPass;
import org.rlhf4j.core.model.Initializer;
import org.rlhf4j.core.model.ModelOptions;
import org.rlhf4j.core.model.OutputGradients;
import org.rlhf4j.core.model.ParameterLayout;
import org.rlhf4j.core.model.ParameterSpec;
import org.rlhf4j.core.model.ParameterSpec.Init;
import org.rlhf4j.core.model.TokenBatch;
import org.rlhf4j.core.model.TokenLogProbs;

/**
 * A second model family written outside the model package, to prove the seam: a bigram model whose
 * logits at a position are the row {@code emb[id]} of a {@code [V, V]} table, with an optional scalar
 * head {@code value = emb[id] . w + b}. Straightforward loops in double; not for real use.
 */
class BigramLm implements CausalLm {
  private final int vocab;
  private final int context;
  private final boolean head;
  private final ModelOptions options;
  private final FlatTensors params;
  private final FlatTensors grads;
  private long passId;
  private boolean closed;

  static List<ParameterSpec> table(int vocab, boolean head) {
    List<ParameterSpec> t = new ArrayList<>();
    t.add(ParameterSpec.decayed("emb", Init.normal(0.5), vocab, vocab));
    if (head) {
      t.add(ParameterSpec.decayed("head.w", Init.normal(0.3), vocab));
      t.add(ParameterSpec.plain("head.b", Init.zeros(), 1));
    }
    return t;
  }

  BigramLm(int vocab, int context, boolean head, ModelOptions options, long seed) {
    this.vocab = vocab;
    this.context = context;
    this.head = head;
    this.options = options;
    ParameterLayout layout = ParameterLayout.of(table(vocab, head));
    this.params = FlatTensors.zeros(layout, options.dataType());
    this.grads = FlatTensors.zeros(layout, options.dataType());
    Initializer.initialize(params, seed);
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the bigram model has been closed");
    }
  }

  double emb(int row, int col) {
    return params.get("emb").array().getDouble(row, col);
  }

  @Override
  public String architecture() {
    return "bigram";
  }

  @Override
  public Map<String, Object> configMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("vocab_size", vocab);
    m.put("n_positions", context);
    m.put("scalar_head", head);
    return m;
  }

  @Override
  public int vocabSize() {
    return vocab;
  }

  @Override
  public int contextLength() {
    return context;
  }

  @Override
  public int width() {
    return vocab;
  }

  @Override
  public boolean hasScalarHead() {
    return head;
  }

  @Override
  public ModelOptions options() {
    return options;
  }

  @Override
  public FlatTensors parameters() {
    checkOpen();
    return params;
  }

  @Override
  public FlatTensors gradients() {
    checkOpen();
    return grads;
  }

  @Override
  public void zeroGradients() {
    checkOpen();
    grads.zero();
  }

  @Override
  public ForwardPass forward(TokenBatch batch) {
    checkOpen();
    if (batch.length() > context) {
      throw new RlhfException("sequence length " + batch.length() + " exceeds the context " + context);
    }
    return new Pass(batch, ++passId);
  }

  @Override
  public DecodeSession newDecodeSession(int batch, int capacity) {
    checkOpen();
    checkArgument(capacity >= 1 && capacity <= context, "capacity %s outside [1, %s]", capacity, context);
    return new Session(batch, capacity);
  }

  @Override
  public BigramLm copy(ModelOptions newOptions) {
    checkOpen();
    BigramLm m = new BigramLm(vocab, context, head, newOptions, 0);
    m.params.flat().array().assign(params.flat().array().castTo(newOptions.dataType()));
    return m;
  }

  @Override
  public BigramLm withNewScalarHead(long seed) {
    checkOpen();
    BigramLm m = new BigramLm(vocab, context, true, options, seed);
    m.params.get("emb").array().assign(params.get("emb").array());
    return m;
  }

  @Override
  public BigramLm withNewValueHead() {
    BigramLm m = withNewScalarHead(0);
    m.params.get("head.w").array().assign(0);
    return m;
  }

  @Override
  public long activationBytes(long batch, long length) {
    return batch * length * vocab * 8L;
  }

  @Override
  public long decodeCacheBytes(long batch, long capacity) {
    return batch * vocab * 8L;
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      params.close();
      grads.close();
    }
  }

  @Override
  public String toString() {
    return "BigramLm(" + vocab + ")";
  }

  private final class Pass implements ForwardPass {
    private final TokenBatch batch;
    private final long id;
    private double invTemp = 1;
    private boolean haveLogProbs;

    Pass(TokenBatch batch, long id) {
      this.batch = batch;
      this.id = id;
    }

    private void checkCurrent() {
      checkOpen();
      checkState(id == passId, "this forward pass is stale");
    }

    @Override
    public TokenBatch batch() {
      return batch;
    }

    @Override
    public INDArray logits() {
      checkCurrent();
      INDArray out = Nd4j.create(options.dataType(), batch.batchSize(), batch.length(), vocab);
      for (int b = 0; b < batch.batchSize(); b++) {
        for (int t = 0; t < batch.length(); t++) {
          for (int v = 0; v < vocab; v++) {
            out.putScalar(new long[] {b, t, v}, emb(batch.id(b, t), v));
          }
        }
      }
      return out;
    }

    /** softmax(emb[row] / T). */
    private double[] probs(int row) {
      double[] p = new double[vocab];
      double max = Double.NEGATIVE_INFINITY;
      for (int v = 0; v < vocab; v++) {
        p[v] = emb(row, v) * invTemp;
        max = Math.max(max, p[v]);
      }
      double sum = 0;
      for (int v = 0; v < vocab; v++) {
        p[v] = Math.exp(p[v] - max);
        sum += p[v];
      }
      for (int v = 0; v < vocab; v++) {
        p[v] /= sum;
      }
      return p;
    }

    @Override
    public TokenLogProbs tokenLogProbs(double temperature) {
      checkCurrent();
      checkArgument(temperature > 0, "temperature must be positive, got %s", temperature);
      invTemp = 1 / temperature;
      haveLogProbs = true;
      int n = batch.length() - 1;
      INDArray lp = Nd4j.create(options.dataType(), batch.batchSize(), n);
      INDArray ent = Nd4j.create(options.dataType(), batch.batchSize(), n);
      for (int b = 0; b < batch.batchSize(); b++) {
        for (int t = 0; t < n; t++) {
          double[] p = probs(batch.id(b, t));
          double h = 0;
          for (double x : p) {
            h -= x * Math.log(x);
          }
          lp.putScalar(b, t, Math.log(p[batch.id(b, t + 1)]));
          ent.putScalar(b, t, h);
        }
      }
      return new TokenLogProbs(lp, ent, temperature);
    }

    @Override
    public INDArray values() {
      checkCurrent();
      checkState(head, "no scalar head");
      INDArray out = Nd4j.create(options.dataType(), batch.batchSize(), batch.length());
      INDArray w = params.get("head.w").array();
      double bias = params.get("head.b").array().getDouble(0);
      for (int b = 0; b < batch.batchSize(); b++) {
        for (int t = 0; t < batch.length(); t++) {
          double s = bias;
          for (int v = 0; v < vocab; v++) {
            s += emb(batch.id(b, t), v) * w.getDouble(v);
          }
          out.putScalar(b, t, s);
        }
      }
      return out;
    }

    @Override
    public void backward(OutputGradients g) {
      checkCurrent();
      checkState(haveLogProbs || (g.logProbs() == null && g.entropy() == null), "call tokenLogProbs first");
      INDArray dEmb = grads.get("emb").array();
      for (int b = 0; b < batch.batchSize(); b++) {
        for (int t = 0; t < batch.length(); t++) {
          int row = batch.id(b, t);
          double[] dz = new double[vocab];
          if (t < batch.length() - 1 && (g.logProbs() != null || g.entropy() != null)) {
            double[] p = probs(row);
            double h = 0;
            for (double x : p) {
              h -= x * Math.log(x);
            }
            double gl = g.logProbs() == null ? 0 : g.logProbs().getDouble(b, t);
            double ge = g.entropy() == null ? 0 : g.entropy().getDouble(b, t);
            int y = batch.id(b, t + 1);
            for (int v = 0; v < vocab; v++) {
              double dlp = (v == y ? 1 : 0) - p[v]; // d log p_y / d (z_v / T)
              double dh = -p[v] * (Math.log(p[v]) + h); // d H / d (z_v / T)
              dz[v] += (gl * dlp + ge * dh) * invTemp;
            }
          }
          if (g.logits() != null) {
            for (int v = 0; v < vocab; v++) {
              dz[v] += g.logits().getDouble(b, t, v);
            }
          }
          if (g.values() != null) {
            double gv = g.values().getDouble(b, t);
            INDArray w = params.get("head.w").array();
            INDArray dw = grads.get("head.w").array();
            for (int v = 0; v < vocab; v++) {
              dz[v] += gv * w.getDouble(v);
              dw.putScalar(v, dw.getDouble(v) + gv * emb(row, v));
            }
            INDArray db = grads.get("head.b").array();
            db.putScalar(0, db.getDouble(0) + gv);
          }
          for (int v = 0; v < vocab; v++) {
            dEmb.putScalar(row, v, dEmb.getDouble(row, v) + dz[v]);
          }
        }
      }
    }
  }

  private final class Session implements DecodeSession {
    private final int batch;
    private final int capacity;
    private final INDArray logits;
    private int length;
    private boolean open = true;

    Session(int batch, int capacity) {
      this.batch = batch;
      this.capacity = capacity;
      this.logits = Nd4j.create(options.dataType(), batch, vocab);
    }

    private INDArray rows(int[] last) {
      checkState(open, "the decode session has been closed");
      checkOpen();
      for (int b = 0; b < batch; b++) {
        for (int v = 0; v < vocab; v++) {
          logits.putScalar(b, v, emb(last[b], v));
        }
      }
      return logits;
    }

    @Override
    public int batchSize() {
      return batch;
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
    public INDArray prefill(TokenBatch prompts) {
      checkArgument(prompts.batchSize() == batch && prompts.length() <= capacity, "prompts do not fit the session");
      length = prompts.length();
      int[] last = new int[batch];
      for (int b = 0; b < batch; b++) {
        last[b] = prompts.id(b, prompts.length() - 1);
      }
      return rows(last);
    }

    @Override
    public INDArray step(int[] tokens) {
      checkState(length < capacity, "the cache is full");
      length++;
      return rows(tokens);
    }

    @Override
    public boolean isClosed() {
      return !open;
    }

    @Override
    public void close() {
      open = false;
    }
  }
}
