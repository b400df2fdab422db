#!/usr/bin/env python3
"""numpy re-implementation of model2vec-rs pooling over a model dir (for fast tuning of the
generator); the Rust program in m2v-check/ is the authoritative check.
Usage: eval_static.py <model-dir>"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def load(d):
    t = load_file(os.path.join(d, "model.safetensors"))
    E = t["embeddings"].astype(np.float32) * t["weights"][:, None]
    return Tokenizer.from_file(os.path.join(d, "tokenizer.json")), E


def encode(tok, E, texts, unk=3):
    out = []
    for e in tok.encode_batch(texts, add_special_tokens=False):
        ids = [i for i in e.ids if i != unk]
        v = E[ids].mean(0) if ids else np.zeros(E.shape[1], np.float32)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.array(out)


def evaluate(tok, E):
    d = json.load(open(os.path.join(HERE, "eval_set.json")))["items"]
    f = lambda k: encode(tok, E, [i[k] for i in d])  # noqa: E731
    ed, rd, eq, rq = f("en_doc"), f("ru_doc"), f("en_query"), f("ru_query")
    hit = lambda q, D: float(np.mean((q @ D.T).argmax(1) == np.arange(len(q))))  # noqa: E731
    return dict(en=hit(eq, ed), ru=hit(rq, rd), ru_en=hit(rq, ed), en_ru=hit(eq, rd), doc_ru_en=hit(rd, ed))


if __name__ == "__main__":
    print(evaluate(*load(sys.argv[1])))
