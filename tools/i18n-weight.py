#!/usr/bin/env python3
"""What the UI's words weigh on the first page, brotli-compressed, measured in the built files.

Run after `cargo leptos build --release --split --precompress`. Takes the files the first page
loads (the base: main JS, main WASM, split loader; plus the dashboard's module and its shared
chunks, as tools/size-check.py finds them), and compresses each with brotli at quality 11 three
times: as built, with every Russian word blanked (each value of app/locales/ru.json, split at
its {{placeholders}}, overwritten with zero bytes of the same length wherever it occurs), and
with the English words blanked too. The differences are what the words cost inside the real
files, next to the code that uses them. Needs `pip install brotli`.
"""
import glob, json, os, re, sys

import brotli

pkg = sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg"
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ROUTE = "dashboard"


def one(pattern):
    found = glob.glob(os.path.join(pkg, pattern))
    if len(found) != 1:
        sys.exit(f"i18n-weight: expected one {pattern} in {pkg}, found {len(found)}")
    return found[0]


def words(lang):
    out = set()

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, str):
            for piece in re.split(r"\{\{[^}]*\}\}", v):
                if len(piece.encode()) >= 4:
                    out.add(piece.encode())

    walk(json.load(open(os.path.join(root, "app", "locales", f"{lang}.json"))))
    # Longest first, so a phrase is blanked whole before a word inside it.
    return sorted(out, key=len, reverse=True)


def blank(data, pieces):
    data = bytearray(data)
    found = 0
    for p in pieces:
        start = 0
        while (i := data.find(p, start)) >= 0:
            data[i : i + len(p)] = bytes(len(p))
            found += 1
            start = i + len(p)
    return bytes(data), found


loader = one("__wasm_split*.js")
files = [one("blueprint*.js"), one("blueprint*.wasm"), loader]
text = open(loader).read()
chunks = dict(re.findall(r'const (__chunk_\d+) = makeLoad\(\(\) => \{\s*const src = fetch\(new URL\("\./([^"]+)"', text))
m = re.search(
    rf'__wasm_split_load___{ROUTE}_route_view_\d+ = wrapAsyncCb\(makeLoad\(\(\) => \{{\s*'
    r'const src = fetch\(new URL\("\./([^"]+)".*?\n\}\n, \[([^\]]*)\]', text, re.S)
if not m:
    sys.exit(f"i18n-weight: no {ROUTE} module in the split loader")
files.append(os.path.join(pkg, m.group(1)))
files += [os.path.join(pkg, chunks[c.strip()]) for c in m.group(2).split(",") if c.strip()]

# Words in both catalogs ("English", "Cloud", " · ") are left alone; pieces shorter than 8 bytes
# (" of ", "Name") also occur in code's own strings, so only longer ones are counted.
ru_all, en_all = words("ru"), words("en")
shared = set(ru_all) & set(en_all)
ru = [w for w in ru_all if w not in shared and len(w) >= 8]
en = [w for w in en_all if w not in shared and len(w) >= 8]
built = no_ru = neither = 0
hits_ru = hits_en = 0
for f in files:
    data = open(f, "rb").read()
    a, n_ru = blank(data, ru)
    b, n_en = blank(a, en)
    hits_ru += n_ru
    hits_en += n_en
    q = lambda d: len(brotli.compress(d, quality=11))
    built += q(data)
    no_ru += q(a)
    neither += q(b)
kib = lambda n: f"{n / 1024:.1f} KiB"
print(f"first page (/{ROUTE}): {len(files)} files, {kib(built)} brotli as built")
print(f"  Russian words:  {kib(built - no_ru)} ({hits_ru} places)")
print(f"  English words:  {kib(no_ru - neither)} ({hits_en} places)")
print(f"  both languages: {kib(built - neither)}")
