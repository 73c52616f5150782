"""Turns run-bench.sh's raw log into a markdown table: rlhf4j's Benchmark against tools/bench_torch.py,
per thread count. Usage: python3 summarize.py devbench-raw.log > devbench.md"""
import re
import sys

raw = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()

machine, sections, order = [], {}, []
cur = None
for line in raw:
    m = re.match(r"=== (rlhf4j|torch) threads (\d+)( \(|: SKIPPED)", line)
    if m:
        cur = (m.group(1), int(m.group(2)))
        if cur not in sections:
            sections[cur] = {"lines": [], "status": "skipped (time budget)" if "SKIPPED" in line else "ran"}
            order.append(cur)
        continue
    m = re.match(r"=== end (rlhf4j|torch) threads (\d+): rc (\d+)(.*), (\d+) s", line)
    if m:
        key = (m.group(1), int(m.group(2)))
        st = sections[key]
        st["status"] = f"rc {m.group(3)}{m.group(4)}, {m.group(5)} s"
        cur = None
        continue
    if line.startswith("=== machine"):
        cur = "machine"
        continue
    if line.startswith("=== total"):
        machine.append(line[4:])
        cur = None
        continue
    if cur == "machine":
        machine.append(line)
    elif cur is not None:
        sections[cur]["lines"].append(line)

num = r"(-?[0-9.]+|NaN|Infinity)"


def rlhf4j_figures(lines):
    f, info = {}, []
    for l in lines:
        if re.match(r"(CPU|BLAS|check|env):", l):
            info.append(l.strip())
        m = re.match(r"^(.*?)\s{2,}" + num + r"(?: (\S+))?\s*$", l)
        if not m:
            continue
        name, v = m.group(1).strip(), float(m.group(2))
        if re.match(r"fp32 GEMM 1024\^3, \d+ threads$", name):
            f["gemm"] = v
        elif name.startswith("fp32 GEMM: best measured rate"):
            f["gemm_best"] = v
        elif name.startswith("medium: fraction of the best measured GEMM rate"):
            f["medium_fraction"] = v
        elif name.startswith("small: training step ("):
            f["small"] = v
        elif name.startswith("medium: training step ("):
            f["medium"] = v
        elif name.startswith("small: KV-cached sampling"):
            f["sample"] = v
        else:
            s = re.match(r"(.*), (1 thread|\d+ threads|speed-up with \d+ threads)$", name)
            if s:
                which = "1" if s.group(2) == "1 thread" else ("x" if s.group(2).startswith("speed") else "n")
                f[("scale", s.group(1), which)] = v
    return f, info


def torch_figures(lines):
    f, info = {}, []
    for l in lines:
        if l.startswith("threads ") or l.startswith("BLAS:"):
            info.append(l.strip())
        if m := re.match(r"gemm 1024\^3: " + num, l):
            f["gemm"] = float(m.group(1))
        elif m := re.match(r"gemm \d+\^3 on \d+ threads: best of 15 " + num, l):
            f["gemm_best"] = max(f.get("gemm_best", 0.0), float(m.group(1)))
        elif m := re.match(r"small: train " + num, l):
            f["small"] = float(m.group(1))
        elif m := re.match(r"medium: train " + num, l):
            f["medium"] = float(m.group(1))
        elif m := re.match(r"\s*kv-cached sampling B16: " + num, l):
            f.setdefault("sample", float(m.group(1)))
        elif m := re.match(r"(.*): 1 thread " + num + r" ms, \d+ threads " + num + r" ms, speed-up " + num + "x", l):
            f[("scale", m.group(1), "1")] = float(m.group(2))
            f[("scale", m.group(1), "n")] = float(m.group(3))
            f[("scale", m.group(1), "x")] = float(m.group(4))
    return f, info


threads = sorted({n for (_, n) in sections})
figs = {}
infos = []
for key in order:
    prog, n = key
    fn = rlhf4j_figures if prog == "rlhf4j" else torch_figures
    figs[key], info = fn(sections[key]["lines"])
    infos.append(f"- {prog}, {n} threads ({sections[key]['status']}): " + " | ".join(info))

print("# rlhf4j vs PyTorch on the device machine's CPU\n")
print("```")
print("\n".join(machine))
print("```\n")
print("Each thread count: rlhf4j's `Benchmark --threads N` then `tools/bench_torch.py N`, alternately,")
print("`OPENBLAS_*` removed (rlhf4j: `OMP_NUM_THREADS=1` as its exec configuration sets). Times are medians")
print("(Benchmark) or means (bench_torch.py) of the programs' own repetitions. The GEMM rows differ in kind:")
print("rlhf4j = one single-threaded 1024³ product per thread (the route the model uses), PyTorch = one")
print("1024³ product on N threads. \"Best GEMM\" is each program's best of 15 timings right after its")
print("training steps (rlhf4j: the highest of its three routes; PyTorch: 1024³ and 2048³ on N threads).\n")


def fmt(v, unit):
    if v is None:
        return "–"
    return f"{v:,.0f}" if unit == "GFLOP/s" or v >= 100 else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


rows = [("fp32 GEMM 1024³", "gemm", "GFLOP/s", True),
        ("best GEMM", "gemm_best", "GFLOP/s", True),
        ("`small` training step (batch 16 × 64)", "small", "ms", False),
        ("`medium` training step (batch 8 × 128)", "medium", "ms", False),
        ("KV-cached sampling, `small`, batch 16", "sample", "ms/token-step", False)]
print("| figure | threads | rlhf4j | PyTorch | rlhf4j speed ÷ PyTorch's |")
print("|---|---:|---:|---:|---:|")
for label, k, unit, higher_better in rows:
    for n in threads:
        a = figs.get(("rlhf4j", n), {}).get(k)
        b = figs.get(("torch", n), {}).get(k)
        ratio = "–"
        if a and b:
            ratio = f"{(a / b if higher_better else b / a):.2f}×"
        print(f"| {label} ({unit}) | {n} | {fmt(a, unit)} | {fmt(b, unit)} | {ratio} |")

fr = [(n, figs.get(("rlhf4j", n), {}).get("medium_fraction")) for n in threads]
if any(v is not None for _, v in fr):
    print("\n`medium` training as a fraction of rlhf4j's best measured GEMM rate: "
          + ", ".join(f"{n} threads {v:.2f}" for n, v in fr if v is not None) + "\n")

names = []
for key in order:
    for k in figs[key]:
        if isinstance(k, tuple) and k[1] not in names:
            names.append(k[1])
if names:
    print("\nBatch-1 thread scaling (each program times a 1-thread and an N-thread copy alternately; ms per step):\n")
    print("| step | N | rlhf4j 1 thread | rlhf4j N threads | rlhf4j speed-up | PyTorch 1 thread | PyTorch N threads | PyTorch speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        for n in threads:
            a = figs.get(("rlhf4j", n), {})
            b = figs.get(("torch", n), {})
            if ("scale", name, "n") not in a and ("scale", name, "n") not in b:
                continue
            cells = [fmt(d.get(("scale", name, w)), "ms") + ("×" if w == "x" and d.get(("scale", name, w)) else "")
                     for d in (a, b) for w in ("1", "n", "x")]
            print(f"| {name} | {n} | " + " | ".join(cells) + " |")

print("\nRuns:\n")
print("\n".join(infos))
