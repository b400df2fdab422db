//! Knowledge search at scale. For each corpus size: a synthetic English + Russian corpus made
//! deterministically from a seed (Zipf-distributed words from built-in lists plus generated rare
//! words and identifiers; documents of 2–8 sections, one chunk each) is ingested the way a sync
//! ingests files (extract, chunk, detect the language, embed with the compiled-in model, store);
//! the index is rebuilt from the store; then `service::search::search` runs with a cold cache
//! (distinct queries) and a warm cache (repeats); last, RFCs are grounded on the corpus the way
//! the RFC studio's "Find sources" does (`rfcs::ground_rfc`). Reports ingestion throughput,
//! rebuild time, index memory, database size, search latency and grounding time. Every phase is
//! bounded by the sizes given.
//!
//! `cargo run -p bench --release --bin search_bench -- --chunks 10000,100000`

use bench::{BenchDb, Summary};
use clap::Parser;
use domain::auth::{Credential, JwtKeys, Principal};
use domain::cache::{Cache, CacheConfig};
use domain::events::EventBus;
use domain::knowledge::embedder::{DefaultEmbedder, Embedder};
use domain::knowledge::{DocBody, Knowledge, KnowledgeSettings, chunk, extract, lang};
use domain::llm::{Gateway, GatewaySettings, Period, Price};
use domain::ratelimit::{Limit, RateLimiter};
use domain::service::{rfcs, search};
use domain::state::{AppState, AuthSettings, JobsLink, Limiters};
use domain::store::embed_text;
use domain::store::{
    self, DynStore, NewAuditEntry, NewChunk, NewDocument, NewQuestion, NewRfc, NewSource,
    NewUserRow, PoolOptions,
};
use model::{
    Answer, DocLanguage, QuestionKind, QuestionOrigin, Scope, Scopes, SearchMode, SearchRequest,
    TaskType,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Corpus sizes in chunks, comma-separated; each gets a fresh database.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    chunks: Vec<usize>,
    /// Searches per latency run (cold: this many distinct queries; warm: this many repeats).
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Maintenance database of the PostgreSQL server (a fresh database is made beside it).
    #[arg(long, env = "BP_TEST_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Searches in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// hybrid, keyword or vector.
    #[arg(long, default_value = "hybrid")]
    mode: String,
    /// Seed of the corpus and the queries.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// RFCs grounded after the latency runs, one after another (0: none).
    #[arg(long, default_value_t = 100)]
    rfcs: usize,
}

const EN_WORDS: &str = "service deploy rollback database replica primary failover backup restore \
    index query latency cache redis kafka consumer producer topic partition offset lag alert page \
    incident outage review postmortem timeline severity escalation runbook procedure config \
    setting variable secret token certificate renewal expiry cluster node pod container image \
    registry pipeline build test release canary traffic ingress gateway payment invoice billing \
    customer account user session login password permission role scope api endpoint request \
    response error retry timeout backoff limit quota webhook signature event message queue \
    schedule job worker batch migration schema table column lock transaction commit write read \
    disk memory cpu storage volume network dns resolver host port proxy balancer metric \
    dashboard trace log sample budget cost team owner onboarding access laptop repository branch \
    merge approval freeze window maintenance upgrade version feature flag rollout percentage \
    experiment search ranking document chunk vector embedding keyword relevance report analysis \
    throughput capacity scaling shard upload file bucket object encryption key rotation vault \
    audit compliance policy support ticket priority bug fix regression flaky stable production \
    staging local development environment docker compose kubernetes helm argo gitlab jira wiki \
    comment author label status progress blocked owner contract partner invoice refund order \
    shipment warehouse inventory price discount notification email push template locale";
const EN_GLUE: &str = "the a an of to in for on with after before when if and or but not is \
    are was were be been has have had this that these it we they you our your its by from at as \
    into over under then also only every each all some many how what why which";
const RU_WORDS: &str = "сервис выкладка откат база данных реплика основной переключение \
    резервная копия восстановление индекс запрос задержка кэш очередь потребитель сообщение \
    раздел смещение отставание алерт инцидент сбой разбор хронология уровень эскалация ранбук \
    настройка переменная секрет токен сертификат продление кластер узел под контейнер образ \
    конвейер сборка тест релиз трафик шлюз платёж счёт биллинг клиент аккаунт пользователь \
    сессия вход пароль права роль ошибка повтор таймаут лимит квота событие задание миграция \
    схема таблица столбец блокировка транзакция запись чтение диск память процессор хранилище \
    сеть хост порт балансировщик метрика дашборд трассировка журнал бюджет стоимость команда \
    владелец доступ репозиторий ветка ревью одобрение заморозка окно обслуживание обновление \
    версия флаг эксперимент поиск ранжирование документ вектор релевантность отчёт анализ \
    пропускная способность масштабирование файл бакет шифрование ключ ротация аудит политика \
    поддержка тикет приоритет исправление регрессия стенд продакшен разработка окружение \
    страница комментарий автор метка статус заказ возврат доставка склад цена скидка \
    уведомление письмо шаблон дежурство смена отпуск компенсация нагрузка распродажа";
const RU_GLUE: &str = "и в на с по для не что как при после до если или но это мы они вы \
    наш ваш его все каждый только также затем где когда почему";
const EN_SYLLABLES: &str = "ka lo mi tra ven sor del pix qua zen bor fli gan hex jor kup lum \
    nar opt pre rix sta tor ulm vex wyn yar zol cri dun fer";
const RU_SYLLABLES: &str = "ка ло ми тра вен сор дел пик ква зен бор фли ган хек жор куп лум \
    нар опт пре рик ста тор улм векс вын яр зол кри дун фер";

/// Samples ranks 0..n with probability proportional to 1 / (rank + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let cdf = (0..n)
            .map(|r| {
                acc += 1.0 / ((r + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let x = rng.random::<f64>() * self.cdf.last().copied().unwrap_or(0.0);
        self.cdf.partition_point(|c| *c < x).min(self.cdf.len().saturating_sub(1))
    }
}

/// The words of one language: common words, glue words and generated rare words.
struct Vocab {
    words: Vec<String>,
    glue: Vec<String>,
    rare: Vec<String>,
    common_dist: Zipf,
    rare_dist: Zipf,
}

impl Vocab {
    fn new(words: &str, glue: &str, syllables: &str, rare: usize, rng: &mut StdRng) -> Self {
        let words: Vec<String> = words.split_whitespace().map(String::from).collect();
        let glue = glue.split_whitespace().map(String::from).collect();
        let syl: Vec<&str> = syllables.split_whitespace().collect();
        let mut seen = HashSet::new();
        let mut rare_words = Vec::with_capacity(rare);
        while rare_words.len() < rare {
            let n = rng.random_range(2..=4);
            let w: String = (0..n).map(|_| syl[rng.random_range(0..syl.len())]).collect();
            if seen.insert(w.clone()) {
                rare_words.push(w);
            }
        }
        Vocab {
            common_dist: Zipf::new(words.len(), 1.0),
            rare_dist: Zipf::new(rare_words.len(), 1.1),
            words,
            glue,
            rare: rare_words,
        }
    }

    fn word(&self, rng: &mut StdRng) -> String {
        let p = rng.random::<f64>();
        if p < 0.30 {
            self.glue[rng.random_range(0..self.glue.len())].clone()
        } else if p < 0.88 {
            self.words[self.common_dist.sample(rng)].clone()
        } else if p < 0.98 {
            self.rare[self.rare_dist.sample(rng)].clone()
        } else {
            identifier(rng)
        }
    }

    fn content_word(&self, rng: &mut StdRng) -> String {
        if rng.random::<f64>() < 0.75 {
            self.words[self.common_dist.sample(rng)].clone()
        } else {
            self.rare[self.rare_dist.sample(rng)].clone()
        }
    }

    fn sentence(&self, rng: &mut StdRng) -> String {
        let n = rng.random_range(6..=16);
        let mut s: Vec<String> = (0..n).map(|_| self.word(rng)).collect();
        if let Some(first) = s.first_mut() {
            let mut c = first.chars();
            if let Some(h) = c.next() {
                *first = h.to_uppercase().chain(c).collect();
            }
        }
        s.join(" ") + "."
    }

    fn phrase(&self, rng: &mut StdRng, min: usize, max: usize) -> String {
        let n = rng.random_range(min..=max);
        (0..n).map(|_| self.content_word(rng)).collect::<Vec<_>>().join(" ")
    }
}

/// Error codes, issue keys and config names: what keyword search exists for.
fn identifier(rng: &mut StdRng) -> String {
    const PROJECTS: [&str; 6] = ["BILL", "AUTH", "SRCH", "PLAT", "NOTIF", "PAY"];
    match rng.random_range(0..3) {
        0 => format!("ERR_{}", rng.random_range(100..1000)),
        1 => format!(
            "{}-{}",
            PROJECTS[rng.random_range(0..PROJECTS.len())],
            rng.random_range(1..3000)
        ),
        _ => format!("CFG_{}_{}", rng.random_range(0..200), rng.random_range(0..50)),
    }
}

struct Corpus {
    en: Vocab,
    ru: Vocab,
}

impl Corpus {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_f00d);
        Corpus {
            en: Vocab::new(EN_WORDS, EN_GLUE, EN_SYLLABLES, 20_000, &mut rng),
            ru: Vocab::new(RU_WORDS, RU_GLUE, RU_SYLLABLES, 12_000, &mut rng),
        }
    }

    fn lang(&self, rng: &mut StdRng) -> &Vocab {
        // About a third of the documents and queries are Russian.
        if rng.random_range(0..3) == 0 { &self.ru } else { &self.en }
    }

    /// A Markdown document: a title and 2–8 sections of one paragraph (500–1100 characters,
    /// under the chunk target, so each section is one chunk).
    fn document(&self, rng: &mut StdRng) -> String {
        let v = self.lang(rng);
        let mut md = format!("# {}\n\n", v.phrase(rng, 3, 6));
        for _ in 0..rng.random_range(2..=8) {
            md.push_str(&format!("## {}\n\n", v.phrase(rng, 2, 4)));
            let target = rng.random_range(500..1100);
            let mut para = String::new();
            while para.chars().count() < target {
                if !para.is_empty() {
                    para.push(' ');
                }
                para.push_str(&v.sentence(rng));
            }
            md.push_str(&para);
            md.push_str("\n\n");
        }
        md
    }

    /// A query: 1–4 content words, sometimes an identifier, in one language.
    fn query(&self, rng: &mut StdRng) -> String {
        if rng.random_range(0..10) == 0 {
            return identifier(rng);
        }
        self.lang(rng).phrase(rng, 1, 4)
    }

    /// `n` distinct queries.
    fn queries(&self, rng: &mut StdRng, n: usize) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 100 {
            tries += 1;
            let q = self.query(rng);
            if seen.insert(q.clone()) {
                out.push(q);
            }
        }
        out
    }
}

/// The application state as the server builds it, on `store`, without Redis.
fn app_state(store: DynStore, knowledge: Knowledge) -> AppState {
    let cache =
        Cache::new(CacheConfig { max_entries: 10_000, l1_max_ttl: Duration::from_secs(30) }, None);
    let events = EventBus::new(None);
    let window = Duration::from_secs(900);
    let llm = Gateway::new(
        store.clone(),
        Some(events.clone()),
        Some(cache.clone()),
        None,
        Vec::new(),
        GatewaySettings {
            reservation_lease: std::time::Duration::from_secs(120),
            urls: domain::outbound::UrlPolicy::PRIVATE_TOO,
            timezone: chrono_tz::UTC,
            default_user_budget: domain::llm::Limit { nanos: 0, period: Period::Monthly },
            global_budget: None,
            default_price: Price::default(),
            alert_thresholds: vec![],
            routes: Default::default(),
            strategy: model::Strategy::Priority,
            private_features: Vec::new(),
            answer_cache: domain::llm::AnswerCacheSettings::default(),
            rate_limits: domain::llm::RateLimits::default(),
            secrets: None,
        },
    );
    AppState {
        store,
        cache,
        redis: None,
        jwt: Arc::new(JwtKeys::new(b"search-bench-signing-key-not-secret")),
        auth: Arc::new(AuthSettings::default()),
        limits: Limiters {
            login_account: RateLimiter::new("login_account", Limit { max: 10, window }, None),
            login_delay: RateLimiter::new("login_delay", Limit { max: 10, window }, None),
            login_ip: RateLimiter::new("login_ip", Limit { max: 100, window }, None),
            register_ip: RateLimiter::new("register_ip", Limit { max: 10, window }, None),
        },
        events,
        jobs: JobsLink::new(None),
        llm,
        knowledge,
        urls: domain::outbound::UrlPolicy::PRIVATE_TOO,
    }
}

/// What ingestion took.
#[derive(Debug, Default)]
struct Ingested {
    documents: usize,
    chunks: usize,
    wall: Duration,
    prepare: Duration,
    embed: Duration,
    store: Duration,
}

/// Generates and stores documents until the corpus has `target` chunks, one document at a time
/// as a sync does: extract, chunk, detect the language, look up cached vectors, embed the rest,
/// store vectors and the document.
async fn ingest(
    state: &AppState,
    corpus: &Corpus,
    rng: &mut StdRng,
    source_id: i64,
    target: usize,
) -> anyhow::Result<Ingested> {
    let settings = state.knowledge.settings().clone();
    let embedder = state
        .knowledge
        .embedder()
        .ok_or_else(|| anyhow::anyhow!("the compiled-in embedder did not load"))?;
    let model = embedder.model_id().to_string();
    let mut out = Ingested::default();
    let started = Instant::now();
    let mut last_report = Instant::now();
    while out.chunks < target {
        let md = corpus.document(rng);
        let t = Instant::now();
        let name = format!("doc-{}.md", out.documents);
        let (format, ex) = extract::extract(md.as_bytes(), &name, settings.max_upload_bytes)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let title = ex.title.clone().unwrap_or_else(|| name.clone());
        let ex = extract::body_to_blocks(&DocBody::Blocks(ex.blocks));
        let text = ex.plain_text();
        let chunks: Vec<NewChunk> = domain::service::sync::chunks_to_store(&ex, &settings.chunk);
        let language = lang::detect(&text);
        let doc_hash = chunk::content_hash(&text);
        out.prepare += t.elapsed();

        let t = Instant::now();
        let external_id = format!("file:{}", out.documents);
        state.store.document_hash(source_id, &external_id).await?;
        let hashes: Vec<String> = chunks.iter().map(|c| c.content_hash.clone()).collect();
        let cached = state.store.get_embeddings(&hashes, &model).await?;
        out.store += t.elapsed();

        let missing: Vec<&NewChunk> =
            chunks.iter().filter(|c| !cached.contains_key(&c.content_hash)).collect();
        let texts: Vec<String> = missing.iter().map(|c| embed_text(&c.heading, &c.text)).collect();
        let t = Instant::now();
        let vectors = embedder.embed(&texts).await?;
        out.embed += t.elapsed();

        let t = Instant::now();
        let rows: Vec<(String, Vec<f32>)> =
            missing.iter().map(|c| c.content_hash.clone()).zip(vectors).collect();
        let now = chrono::Utc::now();
        state.store.put_embeddings(&rows, &model, now).await?;
        out.chunks += chunks.len();
        let doc = NewDocument {
            source_id,
            external_id,
            title,
            url: format!("/api/v1/sources/{source_id}/files/{}", out.documents),
            author: None,
            doc_type: "file".into(),
            language,
            labels: vec![format!("format:{}", format.as_str())],
            updated_at: now,
            content_hash: doc_hash,
            chunks,
        };
        state.store.upsert_document(&doc, now).await?;
        out.store += t.elapsed();
        out.documents += 1;
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            println!(
                "  … {} documents, {} chunks ({:.0} chunks/s)",
                out.documents,
                out.chunks,
                out.chunks as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    out.wall = started.elapsed();
    Ok(out)
}

/// Runs `queries` through `service::search::search` with `concurrency` in flight; returns the
/// latency summary, searches per second, and the share answered from the cache.
async fn run_searches(
    state: &AppState,
    user: &Principal,
    mode: SearchMode,
    queries: Arc<Vec<String>>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<(Summary, f64, f64, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (state, user, queries, next) =
            (state.clone(), user.clone(), queries.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let (mut cached, mut hits) = (0usize, 0i64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let req = SearchRequest {
                    q: queries[i % queries.len()].clone(),
                    mode,
                    ..SearchRequest::default()
                };
                let t = Instant::now();
                let resp = search::search(&state, &user, req)
                    .await
                    .map_err(|e| anyhow::anyhow!("search failed: {e}"))?;
                samples.push(t.elapsed());
                cached += usize::from(resp.cached);
                hits += resp.total;
            }
            anyhow::Ok((samples, cached, hits))
        }));
    }
    let (mut all, mut cached, mut hits) = (Vec::new(), 0, 0);
    for w in workers {
        let (s, c, h) = w.await??;
        all.extend(s);
        cached += c;
        hits += h;
    }
    let n = all.len().max(1) as f64;
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    let summary = Summary::of(all).ok_or_else(|| anyhow::anyhow!("no searches ran"))?;
    Ok((summary, rate, cached as f64 / n, hits as f64 / n))
}

/// Bytes the SQLite database takes on disk (file, WAL, shared memory), or PostgreSQL's
/// `pg_database_size`.
async fn database_bytes(url: &str) -> Option<u64> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        return Some(size(path.into()) + size(format!("{path}-wal")) + size(format!("{path}-shm")));
    }
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(url).await.ok()?;
    let (n,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let _ = conn.close().await;
    u64::try_from(n).ok()
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mode = match args.mode.as_str() {
        "keyword" => SearchMode::Keyword,
        "vector" => SearchMode::Vector,
        _ => SearchMode::Hybrid,
    };
    println!(
        "search_bench: sizes {:?} chunks, {} searches per run, {} in flight, mode {}, backend {}, \
         seed {}",
        args.chunks, args.queries, args.concurrency, args.mode, args.backend, args.seed
    );
    let corpus = Corpus::new(args.seed);
    for &size in &args.chunks {
        let db = match args.backend.as_str() {
            "postgres" => BenchDb::postgres(&args.pg_url).await?,
            _ => BenchDb::sqlite(),
        };
        let result = run_size(&args, &corpus, mode, &db.url, size).await;
        db.drop_db().await;
        result?;
    }
    Ok(())
}

async fn run_size(
    args: &Args,
    corpus: &Corpus,
    mode: SearchMode,
    url: &str,
    size: usize,
) -> anyhow::Result<()> {
    println!("\n== {size} chunks ==");
    let store =
        store::connect(url, &PoolOptions { max_connections: 16, ..PoolOptions::default() }).await?;
    let embedder: Arc<dyn Embedder> = Arc::new(DefaultEmbedder::load()?);
    let knowledge = Knowledge::new(KnowledgeSettings::default(), Some(embedder), None, None, None)?;
    let state = app_state(store, knowledge);
    let now = chrono::Utc::now();
    let user = state
        .store
        .create_user(NewUserRow {
            email: "bench@bench.example.com".into(),
            display_name: "Bench".into(),
            password_hash: "x".into(),
            scopes: Scopes::new([Scope::Basic, Scope::Search, Scope::Generate]),
            first_user_scopes: None,
            created_at: now,
        })
        .await?;
    let principal = Principal {
        user_id: user.id,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        scopes: user.scopes.clone(),
        credential: Credential::ApiToken { id: 0 },
        lang: None,
    };
    let source = state
        .store
        .create_source(
            &NewSource {
                name: "bench".into(),
                kind: "files".into(),
                config: "{}".into(),
                secret: None,
                visibility: "everyone".into(),
                owner_id: user.id,
                members: vec![],
                schedule: None,
                enabled: false,
                at: now,
            },
            NewAuditEntry {
                at: now,
                actor_id: Some(user.id),
                actor_email: Some(user.email.clone()),
                action: "source.create".into(),
                target: String::new(),
                detail: "{}".into(),
            },
        )
        .await?;

    // The same seed gives the same corpus at every size: a smaller corpus is a prefix.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let ing = ingest(&state, corpus, &mut rng, source.id, size).await?;
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    println!(
        "ingest:  {} documents, {} chunks in {:.1} s: {:.0} documents/s, {:.0} chunks/s \
         (prepare {:.1} s, embed {:.1} s = {:.0} chunks/s, store {:.1} s)",
        ing.documents,
        ing.chunks,
        secs(ing.wall),
        ing.documents as f64 / secs(ing.wall),
        ing.chunks as f64 / secs(ing.wall),
        secs(ing.prepare),
        secs(ing.embed),
        ing.chunks as f64 / secs(ing.embed),
        secs(ing.store),
    );

    let rss_before = bench::rss_kib(std::process::id()).unwrap_or(0);
    let t = Instant::now();
    let indexed = state.knowledge.rebuild(&state.store).await?;
    let rebuild = t.elapsed();
    let rss_after = bench::rss_kib(std::process::id()).unwrap_or(0);
    let st = state.knowledge.status();
    println!(
        "rebuild: {indexed} documents, {} chunks, {} vectors × {} in {:.2} s; index memory: \
         vectors {:.1} MiB, full text {:.1} MiB; process RSS {:.0} → {:.0} MiB",
        st.chunks,
        st.vectors,
        st.dimensions,
        secs(rebuild),
        mib(st.vector_bytes as f64),
        mib(st.text_index_bytes as f64),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
    );
    if let Some(bytes) = database_bytes(url).await {
        println!("database: {:.1} MiB on disk ({})", mib(bytes as f64), args.backend);
    }

    let mut qrng = StdRng::seed_from_u64(args.seed.wrapping_add(size as u64));
    let cold = Arc::new(corpus.queries(&mut qrng, args.queries));
    let warm = Arc::new(corpus.queries(&mut qrng, 100));
    let (s, rate, cached, hits) =
        run_searches(&state, &principal, mode, cold.clone(), cold.len(), args.concurrency).await?;
    println!(
        "search cold: {s} | {rate:.0} searches/s, {:.0}% cached, {hits:.0} results/search",
        cached * 100.0
    );
    // Fill the cache with the warm set, then repeat it.
    run_searches(&state, &principal, mode, warm.clone(), warm.len(), args.concurrency).await?;
    let (s, rate, cached, hits) =
        run_searches(&state, &principal, mode, warm, args.queries, args.concurrency).await?;
    println!(
        "search warm: {s} | {rate:.0} searches/s, {:.0}% cached, {hits:.0} results/search",
        cached * 100.0
    );
    if args.rfcs > 0 {
        ground_rfcs(&state, &principal, corpus, &mut qrng, args.rfcs).await?;
    }
    Ok(())
}

/// The RFC studio's grounding step (`rfcs::ground_rfc`, behind "Find sources"), timed whole:
/// the searches derived from the RFC's title, description and answers (here the most there can
/// be: four answers of several words each), each through `search::retrieve` with the user's
/// visibility, interleaved and deduplicated, the chunks' texts read back and stored as the
/// RFC's sources. One RFC at a time, as people click; every RFC's words are new, so nothing
/// comes from the search cache.
async fn ground_rfcs(
    state: &AppState,
    user: &Principal,
    corpus: &Corpus,
    rng: &mut StdRng,
    n: usize,
) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(n);
    let (mut searches, mut sources) = (0, 0);
    for i in 0..n {
        let words = corpus.queries(rng, 10);
        let title = format!("RFC {i}: {}", words[..2].join(" "));
        let description = format!("We want to change how {} works.", words[2..6].join(", "));
        let now = chrono::Utc::now();
        let record = state
            .store
            .create_rfc(&NewRfc {
                title: title.clone(),
                task_type: TaskType::NewFeature,
                template: "feature".into(),
                language: DocLanguage::En,
                description: description.clone(),
                owner_id: user.user_id,
                tags: vec![],
                source_ids: None,
                at: now,
            })
            .await?;
        let id = record.summary.id;
        let asked = NewQuestion {
            kind: QuestionKind::Text,
            text: "What does it touch?".into(),
            why: String::new(),
            placeholder: String::new(),
            options: vec![],
            origin: QuestionOrigin::Template,
            section: None,
        };
        let asked = state.store.add_questions(id, 1, &vec![asked; 4], now).await?;
        let mut questions = Vec::new();
        for (q, w) in asked.iter().zip(&words[6..]) {
            let answer = Answer::Text(format!("it changes {w} for every team"));
            questions.push(state.store.answer_question(id, q.id, Some(&answer), false, now).await?);
        }
        searches += rfcs::queries(&title, &description, &questions).len();
        let t = Instant::now();
        let grounded = rfcs::ground_rfc(state, user, id).await?;
        times.push(t.elapsed());
        sources += grounded.sources.len();
    }
    if let Some(s) = Summary::of(times) {
        println!(
            "grounding: {s} | {:.1} searches and {:.1} sources per RFC",
            searches as f64 / n as f64,
            sources as f64 / n as f64
        );
    }
    Ok(())
}
