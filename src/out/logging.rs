//! The logger: the only code that installs a tracing subscriber, writing each line to its [`Sink`]:
//! stderr (plain `INFO message key=value` lines by default; the Meltano SDK's JSON lines when
//! `TAP_DRIFT_LOG_FORMAT=json`, or when `SINGER_SDK_LOG_CONFIG` names a logging config whose
//! formatter is the SDK's `StructuredFormatter`, as Meltano writes it for plugins declaring
//! `structured-logging`; Meltano parses them), the live display on a terminal, or a
//! protocol's log messages on stdout, shaped by a function the protocol's binary hands in (it never
//! imports a protocol). Level from `TAP_DRIFT_LOGLEVEL` or `LOGLEVEL` (default `info`). Also the
//! `METRIC:` helpers, so metric and tag names stay SDK-compatible in one place. Every line is
//! scrubbed of secrets on its way out.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

struct Fields {
    message: String,
    extra: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.extra.insert(field.name().into(), Value::String(text));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.extra.insert(field.name().into(), json!(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.extra.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.extra.insert(field.name().into(), json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.extra.insert(field.name().into(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.extra.insert(field.name().into(), json!(value));
    }
}

/// Where log lines go.
pub enum Sink {
    /// Plain lines on stderr (JSON lines with `TAP_DRIFT_LOG_FORMAT=json`).
    Stderr,
    /// Above the live display on a terminal, which shows progress and the summary itself.
    Terminal(crate::out::display::Display),
    /// One JSON message per log line on stdout, through its one owner, in the shape the protocol's
    /// function gives it from the level and the message (Airbyte's LOG: Airbyte reads stdout only).
    Lines(crate::out::stdout::Lines, fn(&str, &str) -> Value),
}

/// Events of these targets are progress and summary lines: a live display shows them itself.
const DISPLAYED: [&str; 2] = ["tap_drift::progress", "tap_drift::summary"];

struct Logger {
    sink: Sink,
    json: bool,
    max: Level,
}

/// A plain line: the message, then `key=value` for every other field (or the `METRIC:` line).
fn plain(f: &Fields) -> String {
    let mut line = f.message.clone();
    for (k, v) in &f.extra {
        match v {
            Value::String(s) if k == "metric" => line = format!("METRIC: {s}"),
            Value::String(s) => {
                let _ = write!(line, " {k}={s}");
            }
            other => {
                let _ = write!(line, " {k}={other}");
            }
        }
    }
    line
}

/// A line in the Meltano SDK's JSON log format. The message carries the fields too, as the plain
/// line does: Meltano's console shows a parsed line's message, not its other keys.
fn sdk_json(level: &str, mut f: Fields) -> String {
    let (logger, message, metric) = match f.extra.remove("metric") {
        Some(Value::String(m)) => (
            "tap_drift.metrics",
            "METRIC".to_string(),
            serde_json::from_str(&m).ok(),
        ),
        _ => ("tap_drift", plain(&f), None),
    };
    let stream = f.extra.get("stream").cloned().unwrap_or(Value::Null);
    let mut obj = json!({
        "level": level.to_lowercase(), "pid": std::process::id(), "logger_name": logger,
        "ts": chrono::Utc::now().timestamp_micros() as f64 / 1e6, "thread_name": "main",
        "app_name": "tap-drift", "stream_name": stream, "message": message, "extra": f.extra,
    });
    if let Some(m) = metric {
        obj["metric_info"] = m;
    }
    obj.to_string()
}

impl<S: Subscriber> Layer<S> for Logger {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.max || !meta.target().starts_with("tap_drift") {
            return;
        }
        if matches!(self.sink, Sink::Terminal(_)) && DISPLAYED.contains(&meta.target()) {
            return;
        }
        let mut f = Fields {
            message: String::new(),
            extra: Map::new(),
        };
        event.record(&mut f);
        let level = meta.level().as_str();
        // whatever a server echoed into a message, no secret leaves
        match &self.sink {
            Sink::Lines(lines, message) => {
                let msg = message(level, &crate::secret::scrub(&plain(&f)));
                // a log line that cannot be written has nowhere else to go
                let _ = lines.json(&msg);
            }
            Sink::Terminal(display) => {
                display.println(&crate::secret::scrub(&format!("{level:<5} {}", plain(&f))));
            }
            Sink::Stderr => {
                let line = match self.json {
                    true => sdk_json(level, f),
                    false => format!("{level:<5} {}", plain(&f)),
                };
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{}", crate::secret::scrub(&line));
            }
        }
    }
}

/// What a Meltano SDK logging config (the JSON file `SINGER_SDK_LOG_CONFIG` names) asks for:
/// whether its formatter is the SDK's structured (JSON) one, and the root logger's level.
pub fn sdk_log_config(text: &str) -> (bool, Option<String>) {
    let Ok(config) = serde_json::from_str::<Value>(text) else {
        return (false, None);
    };
    let structured = config["formatters"].as_object().is_some_and(|f| {
        f.values().any(|v| {
            v["()"]
                .as_str()
                .is_some_and(|c| c.ends_with("StructuredFormatter"))
        })
    });
    let level = config["root"]["level"].as_str().map(str::to_string);
    (structured, level)
}

/// The SDK logging config of this run, if `SINGER_SDK_LOG_CONFIG` names a readable one.
fn sdk_config() -> (bool, Option<String>) {
    std::env::var("SINGER_SDK_LOG_CONFIG")
        .ok()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map_or((false, None), |text| sdk_log_config(&text))
}

/// Whether log lines are the Meltano SDK's JSON lines: `TAP_DRIFT_LOG_FORMAT=json`, or an SDK
/// logging config with the structured formatter.
pub fn json_lines() -> bool {
    std::env::var("TAP_DRIFT_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
        || sdk_config().0
}

/// Installs the logger, writing to `sink`. Call once, from `main`.
pub fn init(sink: Sink) {
    let level = std::env::var("TAP_DRIFT_LOGLEVEL")
        .or_else(|_| std::env::var("LOGLEVEL"))
        .ok()
        .or_else(|| sdk_config().1)
        .unwrap_or_default()
        .to_lowercase();
    let max = match level.as_str() {
        "trace" => Level::TRACE,
        "debug" => Level::DEBUG,
        "warn" | "warning" => Level::WARN,
        "error" | "critical" | "fatal" => Level::ERROR,
        _ => Level::INFO,
    };
    let json = json_lines();
    let _ = tracing_subscriber::registry()
        .with(Logger { sink, json, max })
        .try_init();
}

/// Peak resident memory of this process in KiB (Linux), for the closing log line and the benchmark.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Logs a Meltano-SDK-shaped `record_count` counter.
pub fn record_count(stream: &str, value: u64) {
    let m = json!({"type": "counter", "metric": "record_count", "value": value,
        "tags": {"stream": stream, "pid": std::process::id(), "context": {}}});
    tracing::info!(target: "tap_drift::progress", metric = %m, "metric");
}

/// Logs a Meltano-SDK-shaped `http_request_duration` timer, at info when `at_info` (the
/// `metrics_log_level` setting), else at debug.
pub fn http_request_duration(
    at_info: bool,
    stream: &str,
    endpoint: &str,
    status: Option<u16>,
    seconds: f64,
) {
    let m = json!({"type": "timer", "metric": "http_request_duration", "value": (seconds * 1e6).round() / 1e6,
        "tags": {"stream": stream, "endpoint": endpoint, "http_status_code": status,
            "status": if status.is_some_and(|s| (200..300).contains(&s)) { "succeeded" } else { "failed" },
            "pid": std::process::id(), "context": {}}});
    if at_info {
        tracing::info!(metric = %m, "metric");
    } else {
        tracing::debug!(metric = %m, "metric");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sdk_logging_config_asks_for_json_lines_only_with_the_structured_formatter() {
        // as Meltano writes it for a plugin declaring structured-logging, and for one that does not
        let config = |formatter: &str| {
            format!(
                r#"{{"version": 1, "formatters": {{"singer_formatter": {formatter}}}, "root": {{"handlers": ["console"], "level": "WARNING"}}}}"#
            )
        };
        let structured = config(r#"{"()": "singer_sdk.logging.StructuredFormatter"}"#);
        assert_eq!(sdk_log_config(&structured), (true, Some("WARNING".into())));
        let plain = config(r#"{"format": "%(message)s"}"#);
        assert_eq!(sdk_log_config(&plain), (false, Some("WARNING".into())));
        assert_eq!(sdk_log_config("not json"), (false, None));
    }
}
