//! Extraction of untrusted files in a child process the parser cannot escape.
//!
//! A PDF can make a parser recurse until the stack overflows (which aborts the whole process;
//! `catch_unwind` cannot catch it), inflate a few kilobytes into gigabytes, or fan out into
//! billions of drawing operations. So uploaded files are never parsed in the server: the server
//! starts this same executable as `blueprint extract-worker`, which lowers its own resource limits
//! (address space, CPU seconds, no core files, no files written) before it reads a byte, extracts,
//! and prints the result as JSON. The parent bounds how many run at once, kills a worker that
//! outlives the wall-clock limit or whose caller went away (`kill_on_drop`), and turns every way
//! a worker can die into an [`ExtractError`] naming the limit. The child gets an empty environment,
//! so no setting or secret of the server reaches the process that reads hostile bytes.
//!
//! This room owns the process boundary only; what a format means is `extract`'s.

use super::Extracted;
use super::extract::{self, DocFormat, ExtractError};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// The sub-command the server runs itself with to extract one file.
pub const WORKER_COMMAND: &str = "extract-worker";

/// The most text one file may yield; a file that expands past it (a PDF drawing one form a
/// million times) is refused in the worker.
const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;
/// The most a worker's answer may take: the text cap with room for JSON escaping.
const MAX_ANSWER_BYTES: u64 = 3 * MAX_TEXT_BYTES as u64;
/// What is kept of a worker's standard error, to tell how it died.
const MAX_STDERR_BYTES: u64 = 16 * 1024;
/// The first line of the worker's input: the job, as JSON.
const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// Limits every extraction runs under (`knowledge.extract_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractLimits {
    /// The executable to run as the worker; `None` is this process's own executable.
    pub worker: Option<PathBuf>,
    /// Address space of the worker, bytes (its own code and the compiled-in model included).
    pub memory_bytes: u64,
    /// CPU seconds the worker may use.
    pub cpu_secs: u64,
    /// Wall-clock time after which the worker is killed.
    pub wall: Duration,
    /// Workers one instance runs at once.
    pub concurrency: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            worker: None,
            memory_bytes: 1024 * 1024 * 1024,
            cpu_secs: 20,
            wall: Duration::from_secs(25),
            concurrency: 2,
        }
    }
}

/// Runs extractions in worker processes under [`ExtractLimits`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Extractor {
    limits: Arc<ExtractLimits>,
    permits: Arc<Semaphore>,
}

/// The first line a worker reads.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    file_name: String,
    max_bytes: usize,
}

/// What a worker prints.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Answer {
    Extracted { format: DocFormat, extracted: Extracted },
    Refused { error: ExtractError },
}

impl Extractor {
    /// An extractor with these limits.
    pub fn new(limits: ExtractLimits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.concurrency.max(1)));
        Self { limits: Arc::new(limits), permits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ExtractLimits {
        &self.limits
    }

    /// Sniffs and extracts `bytes` in a worker process. Dropping the future kills the worker.
    /// `wait` bounds the time spent waiting for a free worker (uploads: a person is waiting;
    /// `None` for background syncs).
    pub async fn extract(
        &self,
        bytes: &[u8],
        file_name: &str,
        max_bytes: usize,
        wait: Option<Duration>,
    ) -> Result<(DocFormat, Extracted), ExtractError> {
        if bytes.len() > max_bytes {
            return Err(ExtractError::TooLarge { limit: max_bytes });
        }
        let acquire = self.permits.acquire();
        let permit = match wait {
            Some(limit) => tokio::time::timeout(limit, acquire).await.map_err(|_| {
                metrics::counter!("extract_worker_total", "outcome" => "busy").increment(1);
                ExtractError::Unavailable(
                    "every file reader is busy; try the upload again in a moment".into(),
                )
            })?,
            None => acquire.await,
        };
        let _permit = permit
            .map_err(|_| ExtractError::Unavailable("the extractor is shutting down".into()))?;
        let started = std::time::Instant::now();
        let result = self.run_worker(bytes, file_name, max_bytes).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.rule(),
        };
        metrics::counter!("extract_worker_total", "outcome" => outcome).increment(1);
        metrics::histogram!("extract_worker_seconds").record(started.elapsed().as_secs_f64());
        result
    }

    async fn run_worker(
        &self,
        bytes: &[u8],
        file_name: &str,
        max_bytes: usize,
    ) -> Result<(DocFormat, Extracted), ExtractError> {
        let exe = match &self.limits.worker {
            Some(path) => path.clone(),
            None => std::env::current_exe().map_err(|e| {
                ExtractError::Unavailable(format!("cannot find this executable: {e}"))
            })?,
        };
        let mut child = tokio::process::Command::new(&exe)
            .arg(WORKER_COMMAND)
            .arg("--memory-bytes")
            .arg(self.limits.memory_bytes.to_string())
            .arg("--cpu-secs")
            .arg(self.limits.cpu_secs.to_string())
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ExtractError::Unavailable(format!(
                    "cannot start the extraction worker {}: {e}",
                    exe.display()
                ))
            })?;
        let header = serde_json::to_vec(&Job { file_name: file_name.to_owned(), max_bytes })
            .map_err(|e| ExtractError::Unavailable(format!("job: {e}")))?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExtractError::Unavailable("the worker's pipes are missing".into()));
        };
        let feed = async move {
            // A worker that dies early closes its end: the write fails, and how it died is
            // what matters, so write errors are not reported on their own.
            let _ = stdin.write_all(&header).await;
            let _ = stdin.write_all(b"\n").await;
            let _ = stdin.write_all(bytes).await;
            let _ = stdin.shutdown().await;
        };
        let read_out = async move {
            let mut out = Vec::new();
            let _ = stdout.take(MAX_ANSWER_BYTES).read_to_end(&mut out).await;
            out
        };
        let read_err = async move {
            let mut err = Vec::new();
            let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut err).await;
            err
        };
        let work = async {
            let ((), out, err) = tokio::join!(feed, read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let Ok((status, out, err)) = tokio::time::timeout(self.limits.wall, work).await else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(ExtractError::TimeLimit { secs: self.limits.wall.as_secs() });
        };
        let status = status
            .map_err(|e| ExtractError::Unavailable(format!("waiting for the worker: {e}")))?;
        if status.success() {
            if out.len() as u64 >= MAX_ANSWER_BYTES {
                return Err(ExtractError::Malformed(format!(
                    "the file's text is larger than the {} MiB a file may hold",
                    MAX_TEXT_BYTES / (1024 * 1024)
                )));
            }
            return match serde_json::from_slice::<Answer>(&out) {
                Ok(Answer::Extracted { format, extracted }) => Ok((format, extracted)),
                Ok(Answer::Refused { error }) => Err(error),
                Err(e) => Err(ExtractError::Unavailable(format!(
                    "the worker's answer could not be read: {e}"
                ))),
            };
        }
        Err(self.death(status, &String::from_utf8_lossy(&err)))
    }

    /// Why a worker that did not answer died, from its exit status and last words.
    fn death(&self, status: std::process::ExitStatus, stderr: &str) -> ExtractError {
        use std::os::unix::process::ExitStatusExt;
        let signal = status.signal();
        // The worker's own refusals to start (bad arguments, limits it could not set, a broken
        // pipe): the server's problem, not the file's.
        if let Some(code @ 2..=5) = status.code() {
            tracing::error!(code, stderr = %stderr.trim(), "extraction worker could not run");
            return ExtractError::Unavailable(format!("the worker exited with code {code}"));
        }
        // SIGXCPU at the soft CPU limit, SIGKILL at the hard one.
        if matches!(signal, Some(24 | 9)) {
            return ExtractError::TimeLimit { secs: self.limits.cpu_secs };
        }
        if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
            return ExtractError::MemoryLimit { mib: self.limits.memory_bytes / (1024 * 1024) };
        }
        if stderr.contains("overflowed its stack") {
            return ExtractError::Malformed(
                "the file nests its content too deeply to be read safely".into(),
            );
        }
        tracing::warn!(exit = ?status, stderr = %stderr.trim(), "extraction worker died");
        ExtractError::Malformed(
            "the reader stopped on this file: it is damaged or built to exhaust the reader".into(),
        )
    }
}

/// The worker's side (`blueprint extract-worker`): limits itself, reads the job and the bytes
/// from standard input, prints the answer. Runs before any async runtime or thread exists.
pub fn worker_main(memory_bytes: u64, cpu_secs: u64) -> std::process::ExitCode {
    if let Err(e) = limit_self(memory_bytes, cpu_secs) {
        eprintln!("extract-worker: cannot set resource limits: {e}");
        return std::process::ExitCode::from(3);
    }
    let answer = match read_job() {
        Ok((job, bytes)) => match extract::extract(&bytes, &job.file_name, job.max_bytes) {
            Ok((_, extracted))
                if extracted.blocks.iter().map(|b| b.text().len()).sum::<usize>()
                    > MAX_TEXT_BYTES =>
            {
                Answer::Refused {
                    error: ExtractError::Malformed(format!(
                        "the file's text is larger than the {} MiB a file may hold",
                        MAX_TEXT_BYTES / (1024 * 1024)
                    )),
                }
            }
            Ok((format, extracted)) => Answer::Extracted { format, extracted },
            Err(error) => Answer::Refused { error },
        },
        Err(e) => {
            eprintln!("extract-worker: {e}");
            return std::process::ExitCode::from(4);
        }
    };
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &answer)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("extract-worker: cannot write the answer: {e}");
            std::process::ExitCode::from(5)
        }
    }
}

fn limit_self(memory_bytes: u64, cpu_secs: u64) -> std::io::Result<()> {
    use rlimit::Resource;
    // Soft and hard alike: the parser cannot raise them again.
    Resource::AS.set(memory_bytes, memory_bytes)?;
    // SIGXCPU at the soft limit, SIGKILL a second later if it is ignored.
    Resource::CPU.set(cpu_secs, cpu_secs.saturating_add(1))?;
    Resource::CORE.set(0, 0)?;
    Resource::FSIZE.set(0, 0)?;
    Resource::NOFILE.set(16, 16)?;
    Ok(())
}

fn read_job() -> std::io::Result<(Job, Vec<u8>)> {
    use std::io::BufRead;
    let mut stdin = std::io::stdin().lock();
    let mut header = Vec::new();
    (&mut stdin).take(MAX_HEADER_BYTES).read_until(b'\n', &mut header)?;
    if header.last() != Some(&b'\n') {
        return Err(std::io::Error::other("the job line is missing or too long"));
    }
    let job: Job = serde_json::from_slice(&header).map_err(std::io::Error::other)?;
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know it is too large.
    let cap = u64::try_from(job.max_bytes).unwrap_or(u64::MAX).saturating_add(1);
    stdin.take(cap).read_to_end(&mut bytes)?;
    Ok((job, bytes))
}
