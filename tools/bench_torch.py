"""PyTorch reference for rlhf4j's Benchmark: the same GPT shapes, trained and sampled with PyTorch.

Used only to compare speeds on one machine (the build never runs it):
    apt-get install -y python3-torch libopenblas0-openmp
    /usr/bin/python3 tools/bench_torch.py 2     # threads; --no-scaling skips the batch-1 scaling runs
    /usr/bin/python3 tools/bench_torch.py 2 --llama   # only the Llama shapes of rlhf4j's LlamaBenchmark
"""
import torch, time, math, sys, statistics
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
nt = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2
torch.set_num_threads(nt)
print("threads", torch.get_num_threads(), torch.__version__)

def attn(q, k, v, causal):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    if causal:
        T = q.size(-2); S = k.size(-2)
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        att = att.masked_fill(~mask, float('-inf'))
    return F.softmax(att, dim=-1) @ v

class Block(nn.Module):
    def __init__(s, d, h):
        super().__init__(); s.h = h
        s.ln1 = nn.LayerNorm(d); s.attn = nn.Linear(d, 3*d); s.proj = nn.Linear(d, d)
        s.ln2 = nn.LayerNorm(d); s.fc = nn.Linear(d, 4*d); s.fc2 = nn.Linear(4*d, d)
    def forward(s, x, cache=None):
        B, T, C = x.shape
        q, k, v = s.attn(s.ln1(x)).split(C, dim=2)
        q = q.view(B, T, s.h, C//s.h).transpose(1, 2); k = k.view(B, T, s.h, C//s.h).transpose(1, 2); v = v.view(B, T, s.h, C//s.h).transpose(1, 2)
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], 2); v = torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
            y = attn(q, k, v, T > 1)
        else:
            y = attn(q, k, v, True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + s.proj(y)
        return x + s.fc2(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))

class GPT(nn.Module):
    def __init__(s, V, d, h, L, ctx):
        super().__init__()
        s.wte = nn.Embedding(V, d); s.wpe = nn.Embedding(ctx, d)
        s.blocks = nn.ModuleList([Block(d, h) for _ in range(L)]); s.lnf = nn.LayerNorm(d)
    def forward(s, idx, caches=None, pos0=0):
        B, T = idx.shape
        x = s.wte(idx) + s.wpe(torch.arange(pos0, pos0+T))
        for i, b in enumerate(s.blocks): x = b(x, None if caches is None else caches[i])
        return s.lnf(x) @ s.wte.weight.T

def bench(name, V, d, h, L, T, B, steps=20):
    m = GPT(V, d, h, L, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B, T+1))
    def step():
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    for _ in range(5): step()
    t0 = time.perf_counter()
    for _ in range(steps): step()
    ms = (time.perf_counter() - t0) / steps * 1e3
    print(f"{name}: train {ms:.1f} ms/step, {B*T/ms*1e3:.0f} tokens/s")
    return m

def bench_sample(m, B, V, new=64, prompt=8):
    with torch.no_grad():
        def run():
            caches = [[None, None] for _ in m.blocks]
            idx = torch.randint(0, V, (B, prompt))
            logits = m(idx, caches, 0)
            pos = prompt
            for i in range(new):
                p = F.softmax(logits[:, -1, :], -1)
                nxt = torch.multinomial(p, 1)
                logits = m(nxt, caches, pos); pos += 1
        # Warm up as Benchmark does (at least 3 runs and 1 s), then the median of 7 runs.
        w0 = time.perf_counter(); warm = 0
        while warm < 3 or time.perf_counter() - w0 < 1.0:
            run(); warm += 1
        times = []
        for _ in range(7):
            t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
        ms = sorted(times)[3] / new * 1e3
        print(f"  kv-cached sampling B{B}: {ms:.2f} ms per token-step")

class RMSNorm(nn.Module):
    def __init__(s, d, eps=1e-5):
        super().__init__(); s.w = nn.Parameter(torch.ones(d)); s.eps = eps
    def forward(s, x):
        return s.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s.eps))

def rope(x, cos, sin):  # x [B, H, T, dh]; Hugging Face's rotate_half convention
    h = x.size(-1) // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

class LlamaBlock(nn.Module):
    def __init__(s, d, f, h, kv):
        super().__init__(); s.h, s.kv, s.dh = h, kv, d // h
        s.n1 = RMSNorm(d); s.q = nn.Linear(d, d, bias=False); s.k = nn.Linear(d, kv * s.dh, bias=False)
        s.v = nn.Linear(d, kv * s.dh, bias=False); s.o = nn.Linear(d, d, bias=False)
        s.n2 = RMSNorm(d); s.g = nn.Linear(d, f, bias=False); s.u = nn.Linear(d, f, bias=False); s.dn = nn.Linear(f, d, bias=False)
    def forward(s, x, cos, sin, cache=None):
        B, T, C = x.shape
        y = s.n1(x)
        q = rope(s.q(y).view(B, T, s.h, s.dh).transpose(1, 2), cos, sin)
        k = rope(s.k(y).view(B, T, s.kv, s.dh).transpose(1, 2), cos, sin)
        v = s.v(y).view(B, T, s.kv, s.dh).transpose(1, 2)
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], 2); v = torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
        rep = s.h // s.kv
        k = k.repeat_interleave(rep, 1); v = v.repeat_interleave(rep, 1)
        y = attn(q, k, v, T > 1).transpose(1, 2).contiguous().view(B, T, C)
        x = x + s.o(y)
        y = s.n2(x)
        return x + s.dn(F.silu(s.g(y)) * s.u(y))

class Llama(nn.Module):
    """rlhf4j's LlamaBenchmark shape: tied head, rotary positions (theta 1e4), grouped-query attention."""
    def __init__(s, V, d, f, h, kv, L, ctx):
        super().__init__()
        s.emb = nn.Embedding(V, d); s.blocks = nn.ModuleList([LlamaBlock(d, f, h, kv) for _ in range(L)]); s.norm = RMSNorm(d)
        dh = d // h
        inv = 1.0 / (10000 ** (torch.arange(0, dh, 2).float() / dh))
        ang = torch.arange(ctx).float()[:, None] * inv[None, :]
        s.cos, s.sin = ang.cos(), ang.sin()
    def forward(s, idx, caches=None, pos0=0):
        B, T = idx.shape
        cos, sin = s.cos[pos0:pos0 + T], s.sin[pos0:pos0 + T]
        x = s.emb(idx)
        for i, b in enumerate(s.blocks): x = b(x, cos, sin, None if caches is None else caches[i])
        return s.norm(x) @ s.emb.weight.T

def bench_llama():
    V, T, B = 4096, 128, 8
    m = Llama(V, 256, 688, 8, 2, 4, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    x = torch.randint(0, V, (B, T + 1))
    def step():
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(15): step()  # as many warm-up steps as LlamaBenchmark (whose JIT needs ~10)
    ts = []
    for _ in range(10):
        t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1e3)
    ms = sorted(ts)[len(ts) // 2]
    print(f"llama (d 256, GQA 8/2, 4 layers, V 4096): train {ms:.1f} ms/step (batch {B} x {T}), {B*T/ms*1e3:.0f} tokens/s")
    bench_sample(m, 16, V)
    # LoRA r 8, alpha 16 on every linear layer of the blocks (PEFT's "all-linear": not the tied head); base frozen
    m = Llama(V, 256, 688, 8, 2, 4, T)
    for p in m.parameters(): p.requires_grad_(False)
    for blk in m.blocks:
        for name, mod in list(blk.named_children()):
            if isinstance(mod, nn.Linear): setattr(blk, name, LoraLinear(mod, 8, 16.0))
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    def lora_step():
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(15): lora_step()
    ts = []
    for _ in range(10):
        t0 = time.perf_counter(); lora_step(); ts.append((time.perf_counter() - t0) * 1e3)
    ms = sorted(ts)[len(ts) // 2]
    print(f"llama (d 256, GQA 8/2, 4 layers, V 4096): LoRA r 8 train {ms:.1f} ms/step (batch {B} x {T}), {sum(p.numel() for p in params)} trained parameters")

class LoraLinear(nn.Module):
    """y = W x (+ b) + (alpha / r) B A x, with W frozen (PEFT's LoRA, no dropout)."""
    def __init__(s, base, r, alpha):
        super().__init__()
        s.base = base; s.scale = alpha / r
        s.A = nn.Parameter(torch.randn(r, base.in_features) / base.in_features ** 0.5)
        s.B = nn.Parameter(torch.zeros(base.out_features, r))
    def forward(s, x):
        return s.base(x) + (x @ s.A.T) @ s.B.T * s.scale

def blas_info():
    """The OpenBLAS this process loaded (config and kernels), if any, for the report."""
    import ctypes
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libopenblas" in l and ".so" in l})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return f"{lib.openblas_get_config().decode()}; kernels {lib.openblas_get_corename().decode()} ({path})"
        except (OSError, AttributeError):
            pass
    return "no OpenBLAS loaded (" + ", ".join(libs) + ")"

def batch1_scaling(nt):
    """Batch-1 training steps (small, T 64; medium, T 128) and KV-cached decode steps (small, medium;
    wide: d 512, 8 layers, vocab 8192), 1 thread against nt threads, alternately, as rlhf4j's Benchmark:
    after 2 warm-up rounds, rounds until they have taken 3 s together (at least 7); the median ms per step
    of each and the median of the rounds' ratios."""
    import statistics
    def train_step_fn(m, V, T):
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        x = torch.randint(0, V, (1, T + 1))
        def step():
            logits = m(x[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
            opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        return step, lambda n: None
    def decode_step_fn(m, V, cap):
        state = {}
        def prep(n):  # untimed: a new cache (8-token prompt) when the next n steps do not fit
            with torch.no_grad():
                if "pos" not in state or state["pos"] + n > cap:
                    state["caches"] = [[None, None] for _ in m.blocks]
                    m(torch.arange(1, 9).view(1, 8), state["caches"], 0); state["pos"] = 8
        def step():
            with torch.no_grad():
                m(torch.tensor([[state["pos"] % V]]), state["caches"], state["pos"]); state["pos"] += 1
        return step, prep
    cases = [("small: training step, batch 1 x 64", GPT(256, 128, 4, 4, 64), lambda m: train_step_fn(m, 256, 64), 5),
             ("small: KV-cached decode step, batch 1", GPT(256, 128, 4, 4, 128), lambda m: decode_step_fn(m, 256, 128), 60),
             ("medium: training step, batch 1 x 128", GPT(256, 256, 8, 8, 128), lambda m: train_step_fn(m, 256, 128), 3),
             ("medium: KV-cached decode step, batch 1", GPT(256, 256, 8, 8, 128), lambda m: decode_step_fn(m, 256, 128), 60),
             ("wide: KV-cached decode step, batch 1", GPT(8192, 512, 8, 8, 128), lambda m: decode_step_fn(m, 8192, 128), 16)]
    for name, m, make, n in cases:
        step, prep = make(m); times = {1: [], nt: []}
        r = 0; start = None
        while r < 9 or time.perf_counter() - start < 3.0:
            if r == 2: start = time.perf_counter()
            for k in (1, nt):
                torch.set_num_threads(k)
                prep(n)
                t0 = time.perf_counter()
                for _ in range(n): step()
                if r >= 2: times[k].append((time.perf_counter() - t0) / n * 1e3)
            r += 1
        a, b = statistics.median(times[1]), statistics.median(times[nt])
        ratio = statistics.median([x / y for x, y in zip(times[1], times[nt])])
        print(f"{name}: 1 thread {a:.2f} ms, {nt} threads {b:.2f} ms, speed-up {ratio:.2f}x")
    torch.set_num_threads(nt)

print("BLAS:", blas_info())
if "--llama" in sys.argv:
    bench_llama()
    sys.exit(0)
a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)
for _ in range(3): a @ b
t0 = time.perf_counter()
for _ in range(10): a @ b
print(f"gemm 1024^3: {2*1024**3*10/(time.perf_counter()-t0)/1e9:.1f} GFLOP/s")
a = torch.randn(16, 128); b = torch.randn(128, 384)
for _ in range(100): a @ b
t0 = time.perf_counter()
for _ in range(2000): a @ b
print(f"matmul 16x128x384: {(time.perf_counter()-t0)/2000*1e6:.1f} us")
m = bench("small", 256, 128, 4, 4, 64, 16)
m = GPT(256, 128, 4, 4, 128)
bench_sample(m, 16, 256)
bench("medium", 256, 256, 8, 8, 128, 8, steps=5)
for n, reps in ((1024, 10), (2048, 2)):  # PyTorch's best GEMM rate right after the steps, as Benchmark measures its own
    a = torch.randn(n, n); b = torch.randn(n, n)
    for _ in range(3): a @ b
    rates = []
    for _ in range(15):
        t0 = time.perf_counter()
        for _ in range(reps): a @ b
        rates.append(2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    print(f"gemm {n}^3 on {nt} threads: best of 15 {max(rates):.1f} GFLOP/s, median {statistics.median(rates):.1f}")
if nt > 1 and "--no-scaling" not in sys.argv:
    batch1_scaling(nt)
