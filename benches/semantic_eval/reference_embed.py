#!/usr/bin/env python3
"""Reference numpy forward pass of all-MiniLM-L6-v2 (no torch).

It is the baseline the Rust/candle embedder's throughput is compared with, and a parity
check for its vectors. It runs the BERT encoder exactly as Hugging Face `BertModel` does in
float32, then sentence-transformers' pooling:

  word + position + token_type embeddings -> LayerNorm
  6 x [12-head self-attention (additive float32-min mask on padding, softmax) -> dense
       -> residual + LayerNorm -> dense + exact-erf GELU -> dense -> residual + LayerNorm]
  -> mean over real (non-padding) tokens -> L2 normalise (eps 1e-12)

Weights are read straight from model.safetensors (8-byte little-endian header length, JSON
header, raw little-endian tensors). Tokenisation is the model's tokenizer.json through the
`tokenizers` package, truncated at 256 tokens as sentence-transformers does (the shipped file
says 128; --max-tokens N truncates at N instead, counting [CLS] and [SEP]); each batch is padded to its longest sequence here, so --sort-by-length can group
texts of similar length. erf is Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), evaluated in
float64; --check measures it against math.erf and fails above 1e-6.

Needs numpy and tokenizers (benches/.cache/venv, pinned in requirements.txt beside this file):

  reference_embed.py --model DIR --texts FILE.jsonl [--batch 32] [--threads N]
                     [--sort-by-length] [--max-tokens 256] [--out vectors.npy]
                     [--json-stats [OUT.json]]
  reference_embed.py --model DIR --check

FILE.jsonl holds one JSON string or {"text": ...} object per line. --out writes the unit
vectors (float32, input order). --json-stats writes one JSON object to OUT.json (to stdout
with no argument or "-"):
  texts, tokens (real tokens after truncation, [CLS] and [SEP] included, padding not),
  seconds (tokenise + pad + forward, what the Rust probe times), tokens_per_s (= tokens /
  seconds), threads; and also padded_tokens, batch, max_tokens, sort_by_length,
  tokenize_seconds, forward_seconds, forward_tokens_per_s, numpy.
--threads N sets OMP/OPENBLAS/MKL_NUM_THREADS (numpy's BLAS) and RAYON_NUM_THREADS (the
tokenizer) before numpy is imported.
"""

import os
import sys


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


# BLAS reads its thread count when numpy is first imported, so this comes first.
_THREADS = _threads_from_argv(sys.argv[1:])
if _THREADS:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[_var] = _THREADS

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

MAX_TOKENS = 256
CHECK_TEXTS = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
# Published sentence-transformers similarities: (0,1), (0,2), (1,2).
CHECK_EXPECTED = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def load_safetensors(path):
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize,
                                      offset=start).reshape(info["shape"])
    return tensors


class MiniLM:
    def __init__(self, model_dir):
        model_dir = Path(model_dir)
        self.cfg = json.loads((model_dir / "config.json").read_text())
        w = load_safetensors(model_dir / "model.safetensors")
        f32 = lambda name: np.ascontiguousarray(w[name], dtype=np.float32)  # noqa: E731
        lin = lambda name: (np.ascontiguousarray(f32(name + ".weight").T), f32(name + ".bias"))  # noqa: E731
        self.word = f32("embeddings.word_embeddings.weight")
        self.pos = f32("embeddings.position_embeddings.weight")
        self.type = f32("embeddings.token_type_embeddings.weight")
        self.emb_ln = (f32("embeddings.LayerNorm.weight"), f32("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (lin(p + "attention.self." + n) for n in ("query", "key", "value"))
            self.layers.append({
                # torch Linear is y = x @ W.T + b; W.T is stored, and Q, K, V are one matmul.
                "qkv": (np.concatenate([q[0], k[0], v[0]], axis=1), np.concatenate([q[1], k[1], v[1]])),
                "attn_out": lin(p + "attention.output.dense"),
                "attn_ln": (f32(p + "attention.output.LayerNorm.weight"), f32(p + "attention.output.LayerNorm.bias")),
                "inter": lin(p + "intermediate.dense"),
                "out": lin(p + "output.dense"),
                "out_ln": (f32(p + "output.LayerNorm.weight"), f32(p + "output.LayerNorm.bias")),
            })

    def layer_norm(self, x, gb):
        mean = x.mean(-1, keepdims=True)
        var = np.square(x - mean).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + np.float32(self.cfg["layer_norm_eps"])) * gb[0] + gb[1]

    def forward(self, ids, type_ids, mask):
        """ids, type_ids, mask: (B, L) ints -> (B, hidden) unit float32 vectors."""
        b, length = ids.shape
        heads = self.cfg["num_attention_heads"]
        hidden = self.cfg["hidden_size"]
        dh = hidden // heads
        x = self.word[ids] + self.pos[np.arange(length)][None] + self.type[type_ids]
        x = self.layer_norm(x, self.emb_ln).reshape(b * length, hidden)
        bias = ((1.0 - mask.astype(np.float32)) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(dh))
        for lw in self.layers:
            qkv = x @ lw["qkv"][0] + lw["qkv"][1]
            qkv = qkv.reshape(b, length, 3, heads, dh).transpose(2, 0, 3, 1, 4)  # (3, B, H, L, dh)
            scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b * length, hidden)
            x = self.layer_norm(ctx @ lw["attn_out"][0] + lw["attn_out"][1] + x, lw["attn_ln"])
            h = gelu(x @ lw["inter"][0] + lw["inter"][1])
            x = self.layer_norm(h @ lw["out"][0] + lw["out"][1] + x, lw["out_ln"])
        x = x.reshape(b, length, hidden)
        m = mask.astype(np.float32)[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), np.float32(1e-9))
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norm, np.float32(1e-12))


def erf(x):
    """Abramowitz & Stegun 7.1.26 in float64: |erf(x) - this| <= 1.5e-7 for all real x."""
    z = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-z * z), x)


def gelu(x):
    """Exact (erf) GELU, as torch.nn.functional.gelu and BERT's hidden_act "gelu"."""
    return (0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))).astype(np.float32)


def load_tokenizer(model_dir, max_tokens=MAX_TOKENS):
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()  # padded per batch in pad_batch()
    return tok


def pad_batch(encodings):
    length = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), length), np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n], types[row, :n], mask[row, :n] = e.ids, e.type_ids, e.attention_mask
    return ids, types, mask


def embed(model, tok, texts, batch, sort_by_length):
    """Returns (vectors in input order, stats dict)."""
    t0 = time.perf_counter()
    encodings = tok.encode_batch(texts)
    order = list(range(len(texts)))
    if sort_by_length:
        order.sort(key=lambda i: len(encodings[i].ids))
    batches = []
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        batches.append((idx, pad_batch([encodings[i] for i in idx])))
    t1 = time.perf_counter()
    out = np.zeros((len(texts), model.cfg["hidden_size"]), np.float32)
    for idx, (ids, types, mask) in batches:
        out[idx] = model.forward(ids, types, mask)
    t2 = time.perf_counter()
    real = int(sum(m.sum() for _, (_, _, m) in batches))
    padded = int(sum(m.size for _, (_, _, m) in batches))
    threads = _THREADS or os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return out, {
        "texts": len(texts), "tokens": real, "seconds": round(t2 - t0, 4),
        "tokens_per_s": round(real / (t2 - t0), 1) if t2 > t0 else None,
        "threads": int(threads) if threads and threads.isdigit() else None,
        "padded_tokens": padded, "batch": batch, "max_tokens": tok.truncation["max_length"],
        "sort_by_length": sort_by_length,
        "tokenize_seconds": round(t1 - t0, 4), "forward_seconds": round(t2 - t1, 4),
        "forward_tokens_per_s": round(real / (t2 - t1), 1) if t2 > t1 else None,
        "numpy": np.__version__,
    }


def read_texts(path):
    texts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            texts.append(item["text"] if isinstance(item, dict) else item)
    return texts


def check(model, tok):
    grid = np.linspace(-8.0, 8.0, 200001)
    erf_err = float(np.max(np.abs(erf(grid) - np.array([math.erf(v) for v in grid]))))
    vecs, _ = embed(model, tok, CHECK_TEXTS, 32, False)
    ok = erf_err <= 1e-6
    print(f"erf max |error| vs math.erf on [-8, 8]: {erf_err:.2e} ({'ok' if ok else 'FAIL'})")
    for (i, j), want in CHECK_EXPECTED.items():
        got = float(vecs[i] @ vecs[j])
        good = abs(got - want) <= 1e-3
        ok &= good
        print(f"cos({CHECK_TEXTS[i]!r}, {CHECK_TEXTS[j]!r}) = {got:.4f}  "
              f"expected {want:.4f}  {'ok' if good else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="dir with config.json, tokenizer.json, model.safetensors")
    ap.add_argument("--texts", help="JSONL: one JSON string or {\"text\": ...} per line")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, help="BLAS (and tokenizer) threads; set before numpy loads")
    ap.add_argument("--sort-by-length", action="store_true", help="batch texts of similar token length")
    ap.add_argument("--out", help="write the vectors (float32, input order) to this .npy")
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                    help=f"truncate each text to this many tokens, [CLS]/[SEP] included (default {MAX_TOKENS})")
    ap.add_argument("--json-stats", nargs="?", const="-", metavar="OUT",
                    help="write throughput stats as JSON to OUT (stdout if omitted or -)")
    ap.add_argument("--check", action="store_true", help="reproduce the published similarities; exit 1 if not")
    args = ap.parse_args()
    if args.batch < 1:
        ap.error("--batch must be at least 1")
    model = MiniLM(args.model)
    positions = model.cfg["max_position_embeddings"]
    if not 2 <= args.max_tokens <= positions:
        ap.error(f"--max-tokens must be in [2, {positions}]")
    tok = load_tokenizer(args.model, args.max_tokens)
    if args.check:
        ok = check(model, tok)
        if not args.texts:
            return 0 if ok else 1
        if not ok:
            return 1
    if not args.texts:
        ap.error("--texts or --check is required")
    vecs, stats = embed(model, tok, read_texts(args.texts), args.batch, args.sort_by_length)
    if args.out:
        np.save(args.out, vecs)
    if args.json_stats == "-":
        print(json.dumps(stats))
    elif args.json_stats:
        Path(args.json_stats).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
