#!/usr/bin/env python3
"""Builds the judged relevance sets in server/tests/knowledge/real/ from two public corpora:

- tldr-pages (https://github.com/tldr-pages/tldr, CC-BY 4.0): English pages (pages/) and their
  Russian translations (pages.ru/), paired by path.
- Rust by Example in Russian (https://github.com/rust-lang-ru/rust-by-example, MIT/Apache-2.0):
  rust-by-example/src (English) and rust-by-example-ru/src (Russian), paired by path.

Queries are text the corpora's authors and translators wrote, never our own: a page's example
description or command, a Russian page's first sentence, an English page's title. A query taken
from a page is held out: that line is removed from the indexed copy, so the query never matches
its answer word for word. Selection is by a hash of the path, so a rebuild gives the same sets.

Usage: build_sets.py TLDR_GIT_DIR RBE_GIT_DIR  (bare git directories of the two repositories)
"""

import hashlib, json, re, shutil, subprocess, sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "server/tests/knowledge/real"


def git(gd, *args):
    return subprocess.run(["git", "--git-dir", gd, *args], check=True, capture_output=True).stdout


def ls(gd, prefix):
    return git(gd, "ls-tree", "-r", "--name-only", "HEAD", prefix).decode().split("\n")


def show(gd, path):
    return git(gd, "show", f"HEAD:{path}").decode()


def h(s):
    return int(hashlib.sha256(s.encode()).hexdigest()[:12], 16)


def cyrillic_share(text):
    letters = [c for c in text if c.isalpha()]
    return sum("\u0400" <= c <= "\u04ff" for c in letters) / max(1, len(letters))


# ---- tldr ----

def tldr_examples(page):
    """[(description line index, command line index)] of a tldr page."""
    lines = page.split("\n")
    out = []
    for i, l in enumerate(lines):
        if l.startswith("- "):
            j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("`")), None)
            if j is not None:
                out.append((i, j))
    return out


def drop_lines(page, idx):
    """The page without the given lines (and without the blank line after each)."""
    lines = page.split("\n")
    keep = []
    skip_blank = False
    for i, l in enumerate(lines):
        if i in idx:
            skip_blank = True
            continue
        if skip_blank and l.strip() == "":
            skip_blank = False
            continue
        skip_blank = False
        keep.append(l)
    return "\n".join(keep)


def plain_description(line):
    """`- E[x]tract a (compressed) archive [f]ile:` → `Extract a (compressed) archive file`."""
    s = line[2:].strip().rstrip(":").strip()
    s = re.sub(r"\s*\((?:[^()]*\[[^\]]*\][^()]*)\)", "", s)  # Russian "([c]reate)" glosses
    s = s.replace("[", "").replace("]", "")
    s = s.replace("`", "")
    return re.sub(r"\s+", " ", s).strip()


def pasted_command(line, key):
    """A tldr example command as someone would paste it: placeholders filled with their text,
    `path/to/` dropped, one of `[-C|--directory]` chosen."""
    s = line.strip().strip("`")

    def fill(m):
        v = m.group(1)
        alt = re.fullmatch(r"\[(.+)\]", v)
        if alt and "|" in alt.group(1):
            opts = alt.group(1).split("|")
            return opts[key % len(opts)]
        v = re.sub(r"(?:path/to/|путь/к/)", "", v)
        v = v.replace(" ...", "").replace("...", "")
        return v

    s = re.sub(r"\{\{(.*?)\}\}", fill, s)
    return re.sub(r"\s+", " ", s).strip()


def no_url(page):
    return "\n".join(l for l in page.split("\n") if "<https://" not in l)


def build_tldr(gd):
    ru_paths = sorted(p for p in ls(gd, "pages.ru") if p.endswith(".md"))
    pairs = {}
    for rp in ru_paths:
        ru = show(gd, rp)
        if "псевдоним" in ru and len(ru) < 400:
            continue  # alias stubs
        ep = "pages/" + rp[len("pages.ru/"):]
        try:
            en = show(gd, ep)
        except subprocess.CalledProcessError:
            continue
        rel = rp[len("pages.ru/"):]
        if re.fullmatch(r"[a-z0-9._/+-]+", rel):
            pairs[rel] = (no_url(en), no_url(ru))
    name = lambda rel: rel.replace("/", "__")

    # Set A: English pages, queried with pasted commands (one example held out per query page).
    en_paths = sorted(p for p in ls(gd, "pages/common") + ls(gd, "pages/linux") if p.endswith(".md"))
    en_rel = [p[len("pages/"):] for p in en_paths]
    distractors = [r for r in en_rel if r not in pairs and h("d" + r) % 9 == 0
                   and re.fullmatch(r"[a-z0-9._/+-]+", r)]
    corpus_a = {r: pairs[r][0] for r in pairs}
    for r in distractors:
        corpus_a[r] = no_url(show(gd, "pages/" + r))
    queries_a = []
    for r in sorted(corpus_a):
        if h("a" + r) % 3:
            continue
        page = corpus_a[r]
        ex = tldr_examples(page)
        if len(ex) < 3:
            continue
        d, c = ex[h("ka" + r) % len(ex)]
        cmd = pasted_command(page.split("\n")[c], h("o" + r))
        if len(cmd) < 6:
            continue
        corpus_a[r] = drop_lines(page, {d, c})
        queries_a.append({"kind": "pasted command", "q": cmd, "relevant": [name(r)]})

    # Sets B and C share the Russian pages. B: a Russian example description, held out.
    # C: an English example description whose Russian translation stays in the page.
    corpus_ru = {r: pairs[r][1] for r in pairs}
    queries_b, queries_c = [], []
    for r in sorted(pairs):
        en, ru = pairs[r]
        ex_ru, ex_en = tldr_examples(ru), tldr_examples(en)
        if len(ex_ru) < 3:
            continue
        k = h("kb" + r) % len(ex_ru)
        if h("b" + r) % 2 == 0:
            d, c = ex_ru[k]
            q = plain_description(ru.split("\n")[d])
            if len(q) >= 12:
                corpus_ru[r] = drop_lines(ru, {d, c})
                queries_b.append({"kind": "ru", "q": q, "relevant": [name(r)]})
        if h("c" + r) % 2 == 0 and len(ex_en) == len(ex_ru):
            j = (k + 1) % len(ex_en)
            q = plain_description(en.split("\n")[ex_en[j][0]])
            if len(q) >= 12:
                queries_c.append({"kind": "en→ru", "q": q, "relevant": [name(r)]})
    return corpus_a, queries_a, corpus_ru, queries_b, queries_c, name


# ---- Rust by Example ----

def first_sentence(md):
    """(line indices, sentence) of the first prose paragraph's first sentence."""
    lines = md.split("\n")
    i = 0
    fence = False
    while i < len(lines):
        l = lines[i]
        if l.startswith("```"):
            fence = not fence
        elif not fence and l.strip() and not l.startswith(("#", "[", "*", "-", ">", "|", "<", "{")):
            j = i
            while j < len(lines) and lines[j].strip() and not lines[j].startswith("```"):
                j += 1
            para = " ".join(x.strip() for x in lines[i:j])
            m = re.match(r"(.+?[.!?:])(\s|$)", para)
            if m:
                return set(range(i, j)), m.group(1), para[len(m.group(1)):].strip()
            return set(range(i, j)), para, ""
        i += 1
    return None


def plain_md(s):
    s = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", s)
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = s.replace("`", "").replace("*", "").replace("_", " ")
    return re.sub(r"\s+", " ", s).strip().rstrip(":")


def build_rbe(gd):
    ru_paths = sorted(p for p in ls(gd, "rust-by-example-ru/src") if p.endswith(".md"))
    corpus, queries_d, queries_e = {}, [], []
    for rp in ru_paths:
        rel = rp[len("rust-by-example-ru/src/"):]
        if rel == "SUMMARY.md":
            continue
        ru = show(gd, rp)
        if cyrillic_share(ru) < 0.3 or len(ru) < 300:
            continue
        try:
            en = show(gd, "rust-by-example/src/" + rel)
        except subprocess.CalledProcessError:
            continue
        key = "rbe__" + rel.replace("/", "__")
        corpus[key] = ru
        fs = first_sentence(ru)
        if fs and h("d" + rel) % 2 == 0:
            idx, sentence, rest = fs
            q = plain_md(sentence)
            if 25 <= len(q) <= 300 and cyrillic_share(q) > 0.5:
                lines = ru.split("\n")
                keep = [l for i, l in enumerate(lines) if i not in idx]
                first = min(idx)
                if rest:
                    keep.insert(first, rest)
                corpus[key] = "\n".join(keep)
                queries_d.append({"kind": "ru", "q": q, "relevant": [key]})
        title = next((l[2:].strip() for l in en.split("\n") if l.startswith("# ")), None)
        if title and h("e" + rel) % 3 != 0:
            t = plain_md(title)
            # Titles that are code read the same in both languages: not a cross-language test.
            if "::" not in title and "`" not in title and "!" not in t and (" " in t or len(t) >= 7):
                queries_e.append({"kind": "en→ru", "q": t, "relevant": [key]})
    return corpus, queries_d, queries_e


def write_set(name, corpus_dir, queries, about):
    d = OUT / "sets" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "queries.json").write_text(
        json.dumps({"corpus": corpus_dir, "about": about, "queries": queries}, ensure_ascii=False, indent=1) + "\n")


def write_corpus(name, docs, ext=".md"):
    d = OUT / "corpora" / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for k, v in docs.items():
        fn = k if k.endswith(ext) else k + ext
        (d / fn).write_text(v)


def main():
    tldr, rbe = sys.argv[1], sys.argv[2]
    a, qa, ru, qb, qc, name = build_tldr(tldr)
    write_corpus("tldr-en", {name(r).removesuffix(".md"): v for r, v in a.items()})
    write_corpus("tldr-ru", {name(r).removesuffix(".md"): v for r, v in ru.items()})
    fix = lambda qs: [dict(q, relevant=[x.removesuffix(".md") + ".md" for x in q["relevant"]]) for q in qs]
    write_set("tldr-pasted", "tldr-en", fix(qa),
              "English tldr pages; a held-out example command of a page, pasted with its placeholders filled")
    write_set("tldr-ru", "tldr-ru", fix(qb),
              "Russian tldr pages; a held-out Russian example description")
    write_set("tldr-en-ru", "tldr-ru", fix(qc),
              "Russian tldr pages; the English description of an example the Russian page translates")
    corpus, qd, qe = build_rbe(rbe)
    write_corpus("rbe-ru", {k.removesuffix(".md"): v for k, v in corpus.items()})
    fix2 = lambda qs: [dict(q, relevant=[x if x.endswith(".md") else x + ".md" for x in q["relevant"]]) for q in qs]
    write_set("rbe-ru", "rbe-ru", fix2(qd),
              "Russian Rust by Example; a page's held-out first sentence")
    write_set("rbe-en-ru", "rbe-ru", fix2(qe), "Russian Rust by Example; the English page's title")
    for n, q in [("tldr-pasted", qa), ("tldr-ru", qb), ("tldr-en-ru", qc), ("rbe-ru", qd), ("rbe-en-ru", qe)]:
        print(n, len(q))
    print("corpora: tldr-en", len(a), "tldr-ru", len(ru), "rbe-ru", len(corpus))


main()
