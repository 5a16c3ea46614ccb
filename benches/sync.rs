//! `cargo bench`: syncs emulated Drift accounts of growing size (all ten streams) through the release
//! binary and reports wall time, records per second, requests, the tap's CPU time per record (user
//! and system, as the kernel counted it for the child), its context switches and its peak memory.
//! The rate limiter is lifted so the figures measure the tap (and the in-process emulator), not
//! Drift's limit. `TAP_DRIFT_BENCH_CONVERSATIONS=N` sets the largest size (default 100 000);
//! `TAP_DRIFT_BENCH_REPEAT=N` runs each size N times (the CPU figures vary on a busy machine).
//! CPU and context switches are read from Linux's `/proc` ("?" elsewhere).
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark reports on stdout, and panics on a failed run

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// The CPU time of this process's waited-for children (user, system), in clock ticks of 1/100 s
/// (Linux's `USER_HZ`).
fn children_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command's closing parenthesis; cutime and cstime are fields 16 and 17
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    Some((tick(16)?, tick(17)?))
}

/// Each of a process's threads' voluntary and involuntary context switches, as last seen.
type Switches = HashMap<String, (u64, u64)>;

/// Reads the context switches of a process's live threads into `seen` (a thread's count only grows).
fn sample_switches(pid: u32, seen: &mut Switches) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let count = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(v), Some(i)) = (
            count("voluntary_ctxt_switches:"),
            count("nonvoluntary_ctxt_switches:"),
        ) {
            let tid = task.file_name().to_string_lossy().into_owned();
            let e = seen.entry(tid).or_default();
            *e = (e.0.max(v), e.1.max(i));
        }
    }
}

/// Samples a child's context switches every 20 ms until `done`; the sums over its threads (threads
/// that ended between samples lose their last few).
fn watch_switches(pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<Option<(u64, u64)>> {
    std::thread::spawn(move || {
        let mut seen = Switches::new();
        while !done.load(Ordering::SeqCst) {
            sample_switches(pid, &mut seen);
            std::thread::sleep(Duration::from_millis(20));
        }
        (!seen.is_empty()).then(|| seen.values().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1)))
    })
}

/// What a target would count reading the tap's stdout: its bytes and RECORD messages.
fn read_output(child: &mut Child) -> (usize, usize) {
    let mut stdout = BufReader::with_capacity(1 << 16, child.stdout.take().expect("stdout"));
    let (mut bytes, mut records, mut line) = (0usize, 0usize, Vec::new());
    loop {
        line.clear();
        let n = stdout.read_until(b'\n', &mut line).expect("read");
        if n == 0 {
            return (bytes, records);
        }
        bytes += n;
        records += usize::from(line.starts_with(br#"{"type":"RECORD""#));
    }
}

/// One sync of an account, as a row of the table.
fn sync_row(runtime: &tokio::runtime::Runtime, conversations: u32) -> String {
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
    let cpu_before = children_cpu_ticks();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tap-drift"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tap starts");
    let done = Arc::new(AtomicBool::new(false));
    let switches = watch_switches(child.id(), done.clone());
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let (bytes, records) = read_output(&mut child);
    let status = child.wait().expect("wait");
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let switches = switches.join().expect("switches");
    let stderr = err_reader.join().expect("stderr");
    assert!(status.success(), "tap failed: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    let rss = field(&stderr, "peak_rss_kb")
        .parse::<f64>()
        .map(|k| format!("{:.1}", k / 1024.0))
        .unwrap_or_else(|_| "?".into());
    let cpu = match (cpu_before, children_cpu_ticks()) {
        (Some(b), Some(a)) => {
            let per_record = |ticks: u64| ticks as f64 * 1e4 / records.max(1) as f64;
            let sys = per_record(a.1 - b.1);
            format!("{:.1} ({sys:.1})", per_record(a.0 - b.0) + sys)
        }
        _ => "?".into(),
    };
    let (voluntary, involuntary) = switches.map_or(("?".into(), "?".into()), |(v, i)| {
        (v.to_string(), i.to_string())
    });
    format!(
        "| {} | {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {:.1} |",
        conversations,
        data.accounts,
        records,
        field(&stderr, "requests"),
        wall,
        records as f64 / wall,
        cpu,
        voluntary,
        involuntary,
        rss,
        bytes as f64 / (1024.0 * 1024.0)
    )
}

fn main() {
    let env = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let largest = env("TAP_DRIFT_BENCH_CONVERSATIONS", 100_000);
    let repeat = env("TAP_DRIFT_BENCH_REPEAT", 1);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("| conversations | accounts | records | requests | wall s | records/s | CPU µs/record (of which system) | voluntary switches | involuntary switches | tap peak RSS MiB | stdout MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for conversations in [largest / 10, largest] {
        for _ in 0..repeat {
            println!("{}", sync_row(&runtime, conversations));
        }
    }
}
