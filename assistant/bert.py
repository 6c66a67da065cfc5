"""A BERT sentence encoder's forward pass in numpy, for questions.

A question is a dozen to a few dozen tokens: through a 6-layer, 384-wide model
(all-MiniLM-L6-v2) that is 15-45 ms of numpy on one thread here, what torch takes too.
Loading torch and sentence-transformers to do it costs 10-15 s of imports per process, which
was most of a cold ``assistant ask``. This module reads the same folder sentence-transformers
does (``model.safetensors``, ``tokenizer.json``, ``sentence_bert_config.json``, the pooling
config) and computes the same vector: BERT with erf GELU, mean pooling over the tokens, L2
normalisation. ``tests/test_embedding.py`` checks it against sentence-transformers on the
packaged model.

Deliberately left out: batching with padding (questions are encoded one by one), other
poolings than mean, other architectures than BERT (the constructor raises ``ValueError`` for
them, and the caller falls back to sentence-transformers), and indexing: passages are encoded
in batches by sentence-transformers on every core (embedding.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["BertEncoder"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26): importing scipy.special for it
    would cost a second of a cold start, and the vectors stay within 1e-6 of torch's."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


class BertEncoder:
    """Mean-pooled, normalised BERT sentence vectors from a sentence-transformers folder."""

    def __init__(self, path: str | Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(path)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"not a BERT model with GELU: {folder}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported position embeddings in {folder}")
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.exists():
            pool = json.loads(pooling.read_text(encoding="utf-8"))
            if not pool.get("pooling_mode_mean_tokens") or any(
                    pool.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                          "pooling_mode_mean_sqrt_len_tokens")):
                raise ValueError(f"not mean pooling: {pooling}")
        # Only transformer -> pooling (-> normalise) is computed here: a Dense layer or any
        # other module after the pooling would change the vector. (Vectors are normalised
        # either way: the embedder always asks sentence-transformers for normalised ones.)
        modules = folder / "modules.json"
        if modules.exists():
            kinds = {m.get("type", "").rsplit(".", 1)[-1]
                     for m in json.loads(modules.read_text(encoding="utf-8"))}
            if not kinds <= {"Transformer", "Pooling", "Normalize"}:
                raise ValueError(f"modules beyond transformer, pooling and normalise in {modules}")
        st_config = folder / "sentence_bert_config.json"
        st = json.loads(st_config.read_text(encoding="utf-8")) if st_config.exists() else {}
        max_len = st.get("max_seq_length")
        self.lower = bool(st.get("do_lower_case"))
        self.max_len = int(max_len or config.get("max_position_embeddings", 512))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.layers = int(config["num_hidden_layers"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()
        w = load_file(str(folder / "model.safetensors"))
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in w.items()}
        self.w = w
        self.dimension = int(config["hidden_size"])
        # Linear layers as (in, out) matrices, so that x @ W needs no transpose per call
        # (query, key and value are in _qkv below).
        self._t = {k: np.ascontiguousarray(v.T) for k, v in w.items()
                   if k.endswith(".weight") and v.ndim == 2 and k.startswith("encoder.")
                   and ".attention.self." not in k}
        # Query, key and value in one product (three small products cost three calls' overhead).
        self._qkv = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            self._qkv.append((np.ascontiguousarray(np.concatenate([w[p + n + ".weight"] for n in ("query", "key", "value")]).T),
                              np.concatenate([w[p + n + ".bias"] for n in ("query", "key", "value")])))

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._t[name + ".weight"] + self.w[name + ".bias"]

    def encode_one(self, text: str) -> np.ndarray:
        """The normalised sentence vector of text (float32, shape (dimension,))."""
        text = text.strip().lower() if self.lower else text.strip()
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        n = len(ids)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        d = self.dimension // self.heads
        scale = 1.0 / math.sqrt(d)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            weight, bias = self._qkv[i]
            qkv = (x @ weight + bias).reshape(n, 3, self.heads, d)
            q = qkv[:, 0].transpose(1, 0, 2)
            k = qkv[:, 1].transpose(1, 2, 0)
            v = qkv[:, 2].transpose(1, 0, 2)
            scores = (q @ k) * scale
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, self.dimension)
            x = self._norm(x + self._linear(context, p + "attention.output.dense"),
                           p + "attention.output.LayerNorm")
            h = self._linear(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
            x = self._norm(x + self._linear(h, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
