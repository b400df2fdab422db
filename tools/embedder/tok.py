"""Build HF `tokenizers` Unigram tokenizer.json documents for the e5 vocabulary."""
import json

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def tokenizer_json(pieces, scores, unk_id=3, bos="<s>", eos="</s>", mask_id=None):
    """pieces/scores: full ordered vocabulary (ids = list positions); specials first."""
    ids = {p: i for i, p in enumerate(pieces)}
    added = []
    for sp in SPECIALS + (["<mask>"] if mask_id is not None else []):
        if sp in ids:
            added.append({"id": ids[sp], "content": sp, "single_word": False, "lstrip": sp == "<mask>",
                          "rstrip": False, "normalized": False, "special": True})
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFKC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {
                bos: {"id": bos, "ids": [ids[bos]], "tokens": [bos]},
                eos: {"id": eos, "ids": [ids[eos]], "tokens": [eos]},
            },
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": unk_id,
                  "vocab": [[p, float(s)] for p, s in zip(pieces, scores)], "byte_fallback": False},
    }


def dump(doc, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
