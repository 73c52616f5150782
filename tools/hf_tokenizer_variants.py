"""Writes rlhf-core/src/test/resources/hf-tokenizer-variants.json (and hf-chat-ids.json): reference ids and decodes that the
Rust `tokenizers` library computes for variants of the two fixture tokenizers (other normalizers,
pre-tokenizers, post-processors, added-token options), so that HfTokenizer's handling of them is
tested against the real library. Each variant is the fixture's tokenizer.json with top-level fields
replaced ("patch") and added tokens appended ("add_tokens"); the tests rebuild it the same way.

Usage (needs `pip install tokenizers==0.23.2`):
    python tools/hf_tokenizer_variants.py ../shared/fixtures/hf rlhf-core/src/test/resources/hf-chat-ids.json \
        > rlhf-core/src/test/resources/hf-tokenizer-variants.json
"""
import json
import sys

import tokenizers
from tokenizers import Tokenizer

FIX = sys.argv[1]
TEXTS = [
    "Hello world", " leading space", "<s>hello</s> after", "hello<s>world", "x <|im_start|>user\nHi<|im_end|>\n",
    "naïve café 😀 中文", "  two  spaces  ", "tab\tand\nnewline", "<0x41> literal", "", " ", "won't 12345",
    "a <mark> b", "word<mark>word", "xx <mark>  yy", "Ünïcödé ΣΑΣ",
]

SP_BASE = "tokenizer-sentencepiece-bpe"
BL_BASE = "tokenizer-bytelevel-bpe"
LLAMA2_POST = {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
VARIANTS = {
    "sp-llama2-bos": {"base": SP_BASE, "patch": {"post_processor": LLAMA2_POST}},
    "sp-metaspace-first": {"base": SP_BASE, "patch": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"},
                    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}]}}},
    "sp-metaspace-always-split": {"base": SP_BASE, "patch": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}}},
    "sp-no-byte-fallback-unk": {"base": SP_BASE, "model": {"byte_fallback": False}},
    "sp-no-byte-fallback-fuse-unk": {"base": SP_BASE, "model": {"byte_fallback": False, "fuse_unk": True}},
    "bl-ignore-merges-string-merges": {"base": BL_BASE, "model": {"ignore_merges": True}, "string_merges": True},
    "bl-gpt2-bytelevel": {"base": BL_BASE, "patch": {
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}}},
    "bl-added-options": {"base": BL_BASE, "add_tokens": [
        {"content": "<mark>", "single_word": True, "lstrip": True, "rstrip": True, "normalized": False, "special": True},
        {"content": "won", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False}]},
    "bl-split-removed-merged": {"base": BL_BASE, "patch": {
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Contiguous", "invert": False},
            {"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}},
}


def build(spec):
    t = json.load(open(f"{FIX}/{spec['base']}/tokenizer.json"))
    for k, v in spec.get("patch", {}).items():
        t[k] = v
    for k, v in spec.get("model", {}).items():
        t["model"][k] = v
    if spec.get("string_merges"):
        t["model"]["merges"] = [" ".join(m) for m in t["model"]["merges"]]
    next_id = max(t["model"]["vocab"].values()) + 1
    for a in spec.get("add_tokens", []):
        t["added_tokens"].append(dict(a, id=next_id))
        t["model"]["vocab"][a["content"]] = next_id
        next_id += 1
    return t


out = {"tokenizers": tokenizers.__version__, "texts": TEXTS, "variants": {}}
for name, spec in VARIANTS.items():
    tok = Tokenizer.from_str(json.dumps(build(spec)))
    cases = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({
            "ids": ids,
            "ids_special": tok.encode(text, add_special_tokens=True).ids,
            "decoded": tok.decode(ids, skip_special_tokens=True),
            "decoded_keep": tok.decode(ids, skip_special_tokens=False),
        })
    tok.encode_special_tokens = True
    for text, case in zip(TEXTS, cases):
        case["ids_as_text"] = tok.encode(text, add_special_tokens=False).ids
    out["variants"][name] = {"spec": spec, "cases": cases}
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
print()

# The token ids of the fixture's rendered chat texts. chat-ref.json's "ids" hold the keys of a
# BatchEncoding ("input_ids", "attention_mask") instead of ids, so they are recomputed here the way
# transformers' apply_chat_template(tokenize=True) does: tokenizer(text, add_special_tokens=False).
chat = json.load(open(f"{FIX}/chat-templates/chat-ref.json"))
chat_ids = {}
for name, t in chat["templates"].items():
    tok = Tokenizer.from_file(f"{FIX}/chat-templates/{name}/tokenizer.json")
    chat_ids[name] = [tok.encode(c["text"], add_special_tokens=False).ids for c in t["cases"]]
with open(sys.argv[2], "w") as f:
    json.dump({"tokenizers": tokenizers.__version__, "ids": chat_ids}, f, indent=1)
    f.write("\n")
