//! A real SMTP server for tests: a tokio TCP listener speaking enough of RFC 5321 for any
//! client (greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT) that records every message it accepts. It can be told to refuse recipients with a
//! given reply (a 5xx for a permanent failure, a 4xx for a transient one).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message: its envelope and its content as sent after DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// Headers and body, lines joined with CRLF, dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.data.split("\r\n").take_while(|l| !l.is_empty()).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }

    /// The body after the blank line that ends the headers.
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    reject_rcpt: Option<String>,
    connections: usize,
}

/// A running SMTP sink on 127.0.0.1; it stops when dropped.
pub struct SmtpSink {
    /// The port it listens on.
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Listens on a free port and serves every connection.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.lock().unwrap().connections += 1;
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        SmtpSink { port, state, task }
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().unwrap().messages.clone()
    }

    /// How many connections were opened to it.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Answers every `RCPT TO` with `reply` (e.g. `550 5.1.1 no such user`) from now on.
    pub fn reject_recipients_with(&self, reply: &str) {
        self.state.lock().unwrap().reject_rcpt = Some(reply.to_string());
    }

    /// Waits until at least `n` messages arrived (or `within` passed) and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(open), Some(close)) if open < close => arg[open + 1..close].to_string(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_string(),
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP test sink ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if lines.read_until(b'\n', &mut raw).await? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test greets you\r\n250-8BITMIME\r\n250 SIZE 10485760".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(address(&line["MAIL FROM:".len()..]));
            to.clear();
            "250 2.1.0 sender ok".into()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".into()
            } else if let Some(reject) = state.lock().unwrap().reject_rcpt.clone() {
                reject
            } else {
                to.push(address(&line["RCPT TO:".len()..]));
                "250 2.1.5 recipient ok".into()
            }
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                "503 5.5.1 no valid recipients".into()
            } else {
                write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data: Vec<String> = Vec::new();
                loop {
                    raw.clear();
                    if lines.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(());
                    }
                    let l =
                        String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                    if l == "." {
                        break;
                    }
                    data.push(l.strip_prefix('.').map_or(l.clone(), str::to_string));
                }
                let message = Received {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data: data.join("\r\n"),
                };
                state.lock().unwrap().messages.push(message);
                "250 2.0.0 queued".into()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 ok".into()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 ok".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 command not recognised".into()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
