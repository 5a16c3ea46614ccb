//! `cargo bench`: syncs emulated Drift accounts of growing size through the release binary and
//! reports wall time, records per second, requests and the tap's peak memory. The rate limiter is
//! lifted so the figures measure the tap (and the in-process emulator), not Drift's limit.
//! `TAP_DRIFT_BENCH_CONVERSATIONS=N` sets the largest size (default 100 000).
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark reports on stdout, and panics on a failed run

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use drift_emulator::{Dataset, Emulator, Options};
use serde_json::json;

fn field(stderr: &str, name: &str) -> String {
    stderr
        .lines()
        .filter(|l| l.contains("sync finished"))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let largest: u32 = std::env::var("TAP_DRIFT_BENCH_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("| conversations | accounts | records | requests | wall s | records/s | tap peak RSS MiB | stdout MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    for conversations in [largest / 10, largest] {
        let data = Dataset {
            seed: 42,
            users: 200,
            accounts: conversations / 10,
            conversations,
            playbooks: 40,
            teams: 8,
            meetings: 200,
            ..Dataset::default()
        };
        let emu = runtime
            .block_on(Emulator::start(data.clone(), Options::new("bench")))
            .expect("emulator");
        let dir = std::env::temp_dir().join(format!("tap-drift-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cfg = dir.join("config.json");
        let config = json!({"access_token": "bench", "api_url": emu.base_url, "page_size": 100,
            "max_concurrency": 16, "requests_per_minute": 1_000_000});
        std::fs::write(&cfg, config.to_string()).expect("config");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tap-drift"))
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tap starts");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });
        // count lines and bytes as a target would read them, without keeping them
        let (mut bytes, mut records, mut buf) = (0usize, 0usize, vec![0u8; 1 << 16]);
        loop {
            let n = stdout.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            bytes += n;
            records += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        let status = child.wait().expect("wait");
        let wall = started.elapsed().as_secs_f64();
        let stderr = err_reader.join().expect("stderr");
        assert!(status.success(), "tap failed: {stderr}");
        let rss = field(&stderr, "peak_rss_kb")
            .parse::<f64>()
            .map(|k| format!("{:.1}", k / 1024.0))
            .unwrap_or_else(|_| "?".into());
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.0} | {} | {:.1} |",
            conversations,
            data.accounts,
            records,
            field(&stderr, "requests"),
            wall,
            records as f64 / wall,
            rss,
            bytes as f64 / (1024.0 * 1024.0)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
