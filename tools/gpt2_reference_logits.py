#!/usr/bin/env python3
"""Reference GPT-2 logits for rlhf4j's parity test, computed independently with PyTorch.

Usage (the Maven build never runs this; it is how the committed fixture was made):

    # 1. write the random GPT-2-layout checkpoint with the Java tool
    java -cp <rlhf-core test classpath> org.rlhf4j.core.hf.Gpt2Fixture /tmp/gpt2fix
    # 2. compute the reference logits (Debian: apt-get install python3-torch; run with /usr/bin/python3)
    /usr/bin/python3 tools/gpt2_reference_logits.py /tmp/gpt2fix \
        rlhf-core/src/test/resources/hf/gpt2-fixture-logits.json

The safetensors file is parsed by hand (8-byte header length, JSON header, little-endian data) and
the forward pass is written out below in float64: token + position embeddings (positions counted over
unmasked tokens, as with left padding), pre-LayerNorm blocks with causal, key-masked attention and a
tanh-GELU MLP, final LayerNorm, logits = h @ wte^T. The fixture keeps, for every real position, the
log-sum-exp of the logits, their argmax and every 16th logit.
"""
import json
import math
import struct
import sys

import numpy as np
import torch

IDS = [[11, 300, 7, 511, 42, 256], [0, 0, 5, 99, 123, 400]]
MASK = [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]]
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin: base + end]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.tensor(arr.astype(np.float64)).reshape(info["shape"])
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(w, cfg, ids, mask):
    d, nh = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    ids = torch.tensor(ids)
    mask = torch.tensor(mask, dtype=torch.float64)
    B, T = ids.shape
    pos = torch.clamp(torch.cumsum(mask, 1) - 1, min=0).long()
    x = w["wte.weight"][ids] + w["wpe.weight"][pos]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal[None, None] & (mask[:, None, None, :] > 0)
    for l in range(cfg["n_layer"]):
        p = "h.%d." % l
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(d, dim=2)
        q, k, v = [t.view(B, T, nh, d // nh).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // nh)
        att = att.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(att, -1).nan_to_num(0.0)  # fully masked (padding) queries attend to nothing
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]) @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w["wte.weight"].T


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src + "/config.json") as f:
        cfg = json.load(f)
    w = read_safetensors(src + "/model.safetensors")
    logits = forward(w, cfg, IDS, MASK)
    rows = []
    for b in range(len(IDS)):
        for t in range(len(IDS[b])):
            if MASK[b][t]:
                z = logits[b, t]
                rows.append({
                    "row": b,
                    "position": t,
                    "logsumexp": float(torch.logsumexp(z, 0)),
                    "argmax": int(torch.argmax(z)),
                    "every16": [float(v) for v in z[::16]],
                })
    with open(dst, "w") as f:
        json.dump({"source": "tools/gpt2_reference_logits.py (PyTorch %s, float64)" % torch.__version__,
                   "ids": IDS, "mask": MASK, "positions": rows}, f, indent=1)


if __name__ == "__main__":
    main()
