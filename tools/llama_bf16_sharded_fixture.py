"""Writes rlhf-core/src/test/resources/hf/llama-bf16-sharded: a tiny random LlamaForCausalLM saved by
transformers' save_pretrained in bfloat16 as three safetensors shards with model.safetensors.index.json,
and ref.json with the float32 logits of those bf16 weights at the real positions of a left-padded batch
(explicit position_ids counted over real tokens, eager attention).

Run once (2026-11-27, transformers 5.17.0, torch 2.11.0, on the project's GPU machine; the model runs on
the CPU, about 20 s) from inside the output folder:

    mkdir -p OUT && cd OUT && python tools/llama_bf16_sharded_fixture.py

HfLlamaParityTest checks rlhf4j's import of the folder against ref.json (max |diff| < 1e-4).
"""
import json

import torch
import transformers as T

torch.manual_seed(20261127)
c = T.LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rms_norm_eps=1e-5,
                  tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
m = T.LlamaForCausalLM(c)
with torch.no_grad():
    for n, p in m.named_parameters():
        if 'norm' in n:
            p.normal_(1, 0.2)
        else:
            p.normal_(0, 0.15)
m = m.to(torch.bfloat16)
m.save_pretrained('.', max_shard_size='100KB')
# The reference reloads the bf16 files in float32: `m.float()` would keep the rotary inv_freq buffer
# that `.to(torch.bfloat16)` rounded to bf16 (logits then differ by ~2e-3 from a fresh float32 model).
m = T.LlamaForCausalLM.from_pretrained('.', dtype=torch.float32, attn_implementation="eager").eval()
ids = torch.tensor([[5, 100, 7, 211, 42, 156, 90, 17], [0, 0, 0, 99, 123, 200, 8, 255]])
am = torch.tensor([[1] * 8, [0, 0, 0, 1, 1, 1, 1, 1]])
pos = (am.cumsum(1) - 1).clamp(min=0)
with torch.no_grad():
    lg = m(input_ids=ids, attention_mask=am, position_ids=pos).logits
L = [[lg[b, t].tolist() if am[b, t] else None for t in range(8)] for b in range(2)]
json.dump({'input_ids': ids.tolist(), 'attention_mask': am.tolist(), 'position_ids': pos.tolist(),
           'logits_real_positions': L, 'versions': {'transformers': T.__version__, 'torch': torch.__version__}},
          open('ref.json', 'w'))
