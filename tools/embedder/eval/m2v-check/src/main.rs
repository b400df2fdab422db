//! Loads the static model with model2vec-rs (`StaticModel::from_bytes`), prints cosine
//! similarities for paraphrase vs unrelated pairs, hit@1 on the EN/RU paraphrase eval and
//! encoding throughput.
use anyhow::{Context, Result};
use model2vec_rs::model::StaticModel;
use std::time::Instant;

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let (mut d, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    d / (na.sqrt() * nb.sqrt()).max(1e-12)
}

fn hit_at_1(queries: &[Vec<f32>], docs: &[Vec<f32>]) -> (f32, f32) {
    let (mut hits, mut mrr) = (0usize, 0.0f32);
    for (qi, q) in queries.iter().enumerate() {
        let s: Vec<f32> = docs.iter().map(|d| cos(q, d)).collect();
        let rank = s.iter().filter(|&&x| x > s[qi]).count();
        if rank == 0 {
            hits += 1;
        }
        mrr += 1.0 / (rank as f32 + 1.0);
    }
    (hits as f32 / queries.len() as f32, mrr / queries.len() as f32)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("models/bp-static-en-ru-256");
    let eval = args.get(2).map(String::as_str).unwrap_or("tools/embedder/eval/eval_set.json");
    let read = |f: &str| std::fs::read(format!("{dir}/{f}")).with_context(|| format!("reading {dir}/{f}"));

    let t = Instant::now();
    let model = StaticModel::from_bytes(
        read("tokenizer.json")?,
        read("model.safetensors")?,
        read("config.json")?,
        Some(true),
    )?;
    println!("loaded {dir} in {:.1} ms, dim {}", t.elapsed().as_secs_f64() * 1e3, model.dim());
    // The directory loader must agree with from_bytes.
    let by_dir = StaticModel::from_pretrained(dir, None, Some(true), None)?;
    let probe = "Проверка загрузки / loading check";
    let (a, b) = (model.encode_single(probe), by_dir.encode_single(probe));
    anyhow::ensure!(a == b, "from_pretrained and from_bytes disagree");
    println!("from_pretrained(dir, None, Some(true), None) == from_bytes: ok");

    let pairs = [
        ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
        ("Кошка спит на диване.", "Котёнок дремлет на софе."),
        ("The cat is sleeping on the sofa.", "Кошка спит на диване."),
        ("How do I reset my password?", "I forgot my login credentials."),
        ("Как сбросить пароль?", "Я забыл данные для входа."),
        ("The server ran out of disk space.", "Сервер остался без места на диске."),
        ("The cat is sleeping on the sofa.", "Quarterly revenue grew by ten percent."),
        ("Кошка спит на диване.", "Выручка за квартал выросла на десять процентов."),
        ("How do I reset my password?", "The train leaves at seven."),
        ("Как сбросить пароль?", "Поезд отправляется в семь."),
    ];
    println!("\ncosine  pair");
    for (a, b) in pairs {
        let v = model.encode_single(a);
        let w = model.encode_single(b);
        println!("{:6.3}  {a} | {b}", cos(&v, &w));
    }

    let raw = std::fs::read_to_string(eval).with_context(|| format!("reading {eval}"))?;
    let json: serde_json::Value = serde_json::from_str(&raw)?;
    let items = json["items"].as_array().context("items")?;
    let field = |k: &str| -> Vec<String> { items.iter().map(|i| i[k].as_str().unwrap().to_string()).collect() };
    let (en_doc, ru_doc, en_q, ru_q) = (field("en_doc"), field("ru_doc"), field("en_query"), field("ru_query"));
    let (ed, rd, eq, rq) = (model.encode(&en_doc), model.encode(&ru_doc), model.encode(&en_q), model.encode(&ru_q));
    let (en, en_mrr) = hit_at_1(&eq, &ed);
    let (ru, ru_mrr) = hit_at_1(&rq, &rd);
    let (ruen, ruen_mrr) = hit_at_1(&rq, &ed);
    let (enru, enru_mrr) = hit_at_1(&eq, &rd);
    println!("\neval ({} items)  hit@1 / MRR", items.len());
    println!("EN      {en:.3} / {en_mrr:.3}");
    println!("RU      {ru:.3} / {ru_mrr:.3}");
    println!("RU->EN  {ruen:.3} / {ruen_mrr:.3}");
    println!("EN->RU  {enru:.3} / {enru_mrr:.3}");
    println!("docs    EN doc vs its RU translation hit@1 {:.3}", hit_at_1(&rd, &ed).0);

    // Throughput: all 160 eval texts, repeated.
    let mut corpus: Vec<String> = Vec::new();
    for _ in 0..400 {
        for v in [&en_doc, &ru_doc, &en_q, &ru_q] {
            corpus.extend(v.iter().cloned());
        }
    }
    let _ = model.encode(&corpus[..1000]);
    let t = Instant::now();
    let out = model.encode(&corpus);
    let dt = t.elapsed().as_secs_f64();
    println!("\nthroughput: {} sentences in {:.3} s = {:.0} sentences/s ({} rayon threads)",
        out.len(), dt, out.len() as f64 / dt, std::env::var("RAYON_NUM_THREADS").unwrap_or("default".into()));
    let t = Instant::now();
    let n = 2000;
    for i in 0..n {
        std::hint::black_box(model.encode_single(&corpus[i % corpus.len()]));
    }
    println!("single query: {:.1} us mean", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    Ok(())
}
