//! The embedded default embedder: a static English + Russian model distilled from
//! multilingual-e5-small (`tools/embedder`, MIT; notices in `models/bp-static-en-ru-256`),
//! compiled into the binary so search works by meaning with no network and no configuration.
//! Vectors are L2-normalised, so a dot product is the cosine.

use model2vec_rs::model::StaticModel;

/// The compiled-in model's id, recorded with every vector so a model change re-embeds.
pub const DEFAULT_MODEL_ID: &str = "bp-static-en-ru-256";

const TOKENIZER: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/bp-static-en-ru-256/tokenizer.json"
));
const WEIGHTS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/bp-static-en-ru-256/model.safetensors"
));
const CONFIG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/bp-static-en-ru-256/config.json"
));

/// Longest text, in tokens, one vector covers (callers chunk longer documents).
pub const MAX_TOKENS: usize = 512;

/// A static embedding model held in memory.
pub struct StaticEmbedder {
    model: StaticModel,
    id: String,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder").field("id", &self.id).field("dim", &self.dim()).finish()
    }
}

impl StaticEmbedder {
    /// The model compiled into the binary.
    pub fn compiled_in() -> anyhow::Result<Self> {
        let model = StaticModel::from_bytes(TOKENIZER, WEIGHTS, CONFIG, Some(true))?;
        Ok(Self { model, id: DEFAULT_MODEL_ID.to_string() })
    }

    /// The model's id.
    pub fn model_id(&self) -> &str {
        &self.id
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// One unit-length vector per text (a text without known pieces gives zeros).
    pub fn embed(&self, texts: &[String]) -> Vec<Vec<f32>> {
        let mut vectors = self.model.encode_with_args(texts, Some(MAX_TOKENS), 256);
        for v in &mut vectors {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
        vectors
    }
}

/// The cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_model_places_paraphrases_and_translations_closer_than_unrelated_text() {
        let e = StaticEmbedder::compiled_in().unwrap();
        assert_eq!((e.dim(), e.model_id()), (256, DEFAULT_MODEL_ID));
        let texts: Vec<String> = [
            "How do I reset my password?",
            "I forgot my password and need to change it",
            "The quarterly budget report is due on Friday",
            "Как сбросить пароль?",
            "Я забыл пароль и хочу его поменять",
            "Отчёт о квартальном бюджете нужно сдать в пятницу",
            "",
        ]
        .map(String::from)
        .to_vec();
        let v = e.embed(&texts);
        let s = |i: usize, j: usize| dot(&v[i], &v[j]);
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4, "unit length");
        assert!(s(0, 1) > s(0, 2) + 0.1, "EN paraphrase {} vs unrelated {}", s(0, 1), s(0, 2));
        assert!(s(3, 4) > s(3, 5) + 0.1, "RU paraphrase {} vs unrelated {}", s(3, 4), s(3, 5));
        assert!(s(0, 3) > s(0, 5), "RU↔EN translation {} vs unrelated {}", s(0, 3), s(0, 5));
        assert!(v[6].iter().all(|x| x.is_finite()), "empty text is finite");
    }
}
