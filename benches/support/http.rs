//! What the load benchmarks share: a minimal keep-alive HTTP/1.1 client (enough for
//! them, no more), the running server, and closed-loop load with latency percentiles.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery staple";

/// `expenseplus serve --plain-http` on loopback, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// CPU time the server process has used so far (user + system), in seconds, from
    /// `/proc` (0 elsewhere). Per request, it is what a page costs, whatever else
    /// shares the machine.
    pub fn cpu_secs(&self) -> f64 {
        process_cpu_secs(&self.child.id().to_string())
    }

    /// Starts the release binary on `data` with two workers (one per core here) and
    /// waits for the address it prints.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// [`Server::start`] with more arguments for `serve` (e.g. `--backup-dir`).
    pub fn start_with(data: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_expenseplus"))
            .args([
                "serve",
                "--plain-http",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--data-dir",
            ])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            // `BENCH_SERVER_LOG=FILE` keeps the server's log for a failing run.
            .stderr(match std::env::var_os("BENCH_SERVER_LOG") {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("server log")),
                None => Stdio::null(),
            })
            .spawn()
            .expect("start server");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(out.read_line(&mut line).expect("read") > 0, "server exited");
            if let Some(url) = line
                .trim()
                .strip_prefix("ExpensePlus is serving at http://")
            {
                break url.trim_end_matches('/').to_owned();
            }
        };
        // Keep reading stdout so the pipe never fills.
        std::thread::spawn(move || for _ in out.lines() {});
        Server { child, addr }
    }
}

/// CPU time (user + system, seconds) a process has used, from `/proc/PID/stat` (0
/// elsewhere); `self` for this one.
pub fn process_cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks are 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

pub struct Response {
    pub status: u16,
    pub cookie: Option<String>,
    pub body: String,
}

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            // Large enough for a whole page: one read per response, not three, so the
            // client takes less of the CPU it shares with the server.
            reader: BufReader::with_capacity(64 * 1024, stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    /// A GET, or a POST of an urlencoded form.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> Response {
        let body = form.map(|f| ("application/x-www-form-urlencoded", f.as_bytes()));
        self.send(method, path, cookie, body)
    }

    /// Any request; `body` is its content type and bytes.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> Response {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
        if let Some(c) = cookie {
            req.extend_from_slice(format!("Cookie: {c}\r\n").as_bytes());
        }
        match body {
            Some((kind, bytes)) => {
                req.extend_from_slice(
                    format!(
                        "Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                        bytes.len()
                    )
                    .as_bytes(),
                );
                req.extend_from_slice(bytes);
            }
            None => req.extend_from_slice(b"\r\n"),
        }
        self.writer.write_all(&req).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut chunked, mut cookie) = (0usize, false, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "set-cookie" => cookie = value.trim().split(';').next().map(str::to_owned),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).expect("chunk");
                body.extend_from_slice(&chunk[..size]);
                if size == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        Response {
            status,
            cookie,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// The value of the first hidden `csrf_token` field on a page.
pub fn csrf(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = body.find(marker).map(|i| i + marker.len()).unwrap_or(0);
    body[at..].split('"').next().unwrap_or_default().to_owned()
}

/// GET /login then POST it; returns the signed-in session cookie.
pub fn sign_in(conn: &mut Conn, org: &str, email: &str) -> Option<String> {
    let form = conn.request("GET", "/login", None, None);
    let anon = form.cookie?;
    let body = format!(
        "organisation={org}&email={}&password={}&csrf_token={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+"),
        csrf(&form.body)
    );
    let done = conn.request("POST", "/login", Some(&anon), Some(&body));
    (done.status == 303).then_some(done.cookie).flatten()
}

pub struct Stats {
    pub requests: usize,
    pub secs: f64,
    pub latencies: Vec<Duration>,
    /// Server CPU seconds used during the phase, when measured.
    pub server_cpu: f64,
    /// This (client) process's CPU seconds during the phase, when measured.
    pub client_cpu: f64,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    /// The `p` quantile of latency, in milliseconds.
    pub fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    /// Server CPU per request, in milliseconds.
    pub fn cpu_ms(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.server_cpu * 1000.0 / self.requests as f64
    }

    pub fn line(&self, what: &str) -> String {
        format!(
            "{what:<34} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests)",
            self.rate(),
            self.pct(0.5),
            self.pct(0.99),
            self.requests
        )
    }
}

/// `threads` connections, each calling `f` in a loop for `phase`; every call's latency
/// is kept. `f` gets its connection's index (to pick its own session or claim).
pub fn hammer(
    threads: usize,
    phase: Duration,
    f: impl Fn(usize, &mut Conn) -> bool + Send + Sync + Clone + 'static,
    addr: &str,
) -> Stats {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (f, addr) = (f.clone(), addr.to_owned());
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr);
                let mut lat = Vec::new();
                while start.elapsed() < phase {
                    let t = Instant::now();
                    assert!(f(i, &mut conn), "unexpected response");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    latencies.sort();
    Stats {
        requests: latencies.len(),
        secs: start.elapsed().as_secs_f64(),
        latencies,
        server_cpu: 0.0,
        client_cpu: 0.0,
    }
}
