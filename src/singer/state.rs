//! Singer STATE in the Meltano SDK shape: `{"bookmarks": {stream: {"replication_key", "replication_key_value"}}}`,
//! plus the pace the last run settled on (`"pace": {"requests_per_minute", "limit_found",
//! "run_started_at"}`, beside the bookmarks: targets and Meltano keep a STATE value whole).
//! Read tolerantly: a Meltano-wrapped state or a whole STATE message is unwrapped, SDK leftovers
//! inside a stream's bookmark are carried forward, and what the tap does not know at all (keys
//! beside `bookmarks`, bookmarks of streams it does not have) is dropped with one warning naming
//! it ([`State::keep_known`]); a pace it cannot read is ignored with a warning (it only saves
//! time). Bookmarks are epoch milliseconds. Pure: the caller reads files, supplies the clock and
//! the stream names, and names the file in errors (errors here are reasons, without a path).

use serde_json::{json, Map, Value};

use crate::time::parse_timestamp_ms;

/// The key of the remembered pace, beside `bookmarks`.
pub const PACE_KEY: &str = "pace";

/// The pace a run settled on, kept in the state for the next run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    /// Requests a minute.
    pub per_minute: f64,
    /// Whether a 429 came near it (else it is as far as a run climbed without one).
    pub limit_found: bool,
    /// When the run that wrote it started (RFC 3339), if the state says: of several copies (an Airbyte
    /// state keeps one per stream), the latest is used.
    pub run_started_at: Option<String>,
}

impl Pace {
    /// The pace as the state keeps it (a whole number of requests a minute).
    pub fn to_value(&self) -> Value {
        let mut v = json!({"requests_per_minute": self.per_minute.round().max(1.0) as u64,
            "limit_found": self.limit_found});
        if let Some(at) = &self.run_started_at {
            v["run_started_at"] = json!(at);
        }
        v
    }

    /// Reads a pace as the state keeps it.
    pub fn from_value(v: &Value) -> Result<Pace, String> {
        let per_minute = v
            .get("requests_per_minute")
            .and_then(Value::as_f64)
            .filter(|p| p.is_finite() && *p >= 1.0)
            .ok_or("its requests_per_minute is not a number of at least 1")?;
        let limit_found = match v.get("limit_found") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("its limit_found is not true or false".into()),
        };
        let run_started_at = v
            .get("run_started_at")
            .and_then(Value::as_str)
            .map(String::from);
        Ok(Pace {
            per_minute,
            limit_found,
            run_started_at,
        })
    }
}

/// The run's state: the whole input value, with this run's bookmarks written into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    value: Map<String, Value>,
}

impl State {
    /// Validates an input state value. Missing `bookmarks` is fine; wrong types are errors. A
    /// state wrapped as Meltano exports it (`{"singer_state": …}`, said in one info line) or saved as
    /// a whole STATE message (a warning) is unwrapped.
    pub fn from_value(value: Value) -> Result<State, String> {
        let value = unwrapped(value);
        let value = match value {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => return Err(format!("it must be a JSON object, got {other}")),
        };
        match value.get("bookmarks") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => return Err("\"bookmarks\" must be an object".into()),
        }
        if let Some(Value::Object(b)) = value.get("bookmarks") {
            for (stream, bm) in b {
                if !bm.is_object() {
                    return Err(format!("bookmarks.{stream} must be an object"));
                }
            }
        }
        Ok(State { value })
    }

    /// Drops, with one warning each, what a state holds that the tap does not know: top-level
    /// keys beside `bookmarks` (and the Singer spec's `currently_syncing`), and bookmarks of
    /// streams other than `streams`. Dropped, not carried: a bookmark only saves requests, so
    /// losing one costs a re-read and never a record, while carrying a key the tap cannot read
    /// would repeat it in every later STATE.
    pub fn keep_known(&mut self, streams: &[&str]) {
        let stray: Vec<String> = self
            .value
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !stray.is_empty() {
            let none_known = !self.value.contains_key("bookmarks");
            for k in &stray {
                self.value.remove(k);
            }
            let found = stray.join(", ");
            match none_known {
                true => tracing::warn!("the state holds no key tap-drift knows (found: {found}): no bookmark is read from it, so every stream starts from start_date; dropped those keys (a Singer state keeps its bookmarks under \"bookmarks\")"),
                false => tracing::warn!("the state holds keys tap-drift does not know (found: {found}); dropped them"),
            }
        }
        let Some(Value::Object(bookmarks)) = self.value.get_mut("bookmarks") else {
            return;
        };
        let unknown: Vec<String> = bookmarks
            .keys()
            .filter(|k| !streams.contains(&k.as_str()))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return;
        }
        for k in &unknown {
            bookmarks.remove(k);
        }
        let found = unknown.join(", ");
        match bookmarks.is_empty() {
            true => tracing::warn!("the state has bookmarks only for streams tap-drift does not have (found: {found}; is it another tap's state?): every stream starts from start_date; dropped them"),
            false => tracing::warn!("the state has bookmarks for streams tap-drift does not have (found: {found}); dropped them"),
        }
    }

    /// The bookmark of a stream for a replication key, in epoch ms. A bookmark for another key is
    /// ignored with a warning; an unreadable value is an error.
    pub fn bookmark(&self, stream: &str, key: &str) -> Result<Option<i64>, String> {
        let Some(bm) = self.value.get("bookmarks").and_then(|b| b.get(stream)) else {
            return Ok(None);
        };
        if let Some(k) = bm.get("replication_key").and_then(Value::as_str) {
            if k != key {
                tracing::warn!("state: ignoring the {stream} bookmark on `{k}`: the stream replicates by `{key}`");
                return Ok(None);
            }
        }
        match bm.get("replication_key_value") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| format!("bookmarks.{stream}.replication_key_value is not an integer")),
            Some(Value::String(s)) => s
                .parse::<i64>()
                .ok()
                .or_else(|| parse_timestamp_ms(s))
                .map(Some)
                .ok_or_else(|| format!("bookmarks.{stream}.replication_key_value {s:?} is neither epoch milliseconds nor an RFC 3339 timestamp")),
            Some(other) => Err(format!("bookmarks.{stream}.replication_key_value has the wrong type: {other}")),
        }
    }

    /// The stream's bookmark value by `key`, if it has one by that key (no warning: `bookmark` gave
    /// it when the run started).
    fn current(&self, stream: &str, key: &str) -> Option<i64> {
        let bm = self.value.get("bookmarks")?.get(stream)?;
        match bm.get("replication_key").and_then(Value::as_str) {
            Some(k) if k != key => None,
            _ => self.bookmark(stream, key).ok().flatten(),
        }
    }

    /// The records a stream remembers sending near its bookmark, as (key, replication value)
    /// pairs (`recent`); a state written before `recent` existed lists, in `boundary_keys`, the
    /// keys sent at exactly the bookmark's value.
    pub fn recent(&self, stream: &str) -> Vec<(Value, i64)> {
        let Some(bm) = self.value.get("bookmarks").and_then(|b| b.get(stream)) else {
            return Vec::new();
        };
        if let Some(pairs) = bm.get("recent").and_then(Value::as_array) {
            return pairs
                .iter()
                .filter_map(|p| Some((p.get(0)?.clone(), p.get(1)?.as_i64()?)))
                .collect();
        }
        let at = bm.get("replication_key_value").and_then(Value::as_i64);
        match (bm.get("boundary_keys").and_then(Value::as_array), at) {
            (Some(keys), Some(at)) => keys.iter().map(|k| (k.clone(), at)).collect(),
            _ => Vec::new(),
        }
    }

    /// Sets a stream's bookmark and the records sent near it, dropping in-progress leftovers.
    /// Never moves a bookmark backwards; at an equal value the remembered records accumulate.
    pub fn advance(&mut self, stream: &str, key: &str, value: i64, mut recent: Vec<(Value, i64)>) {
        match self.current(stream, key) {
            Some(old) if old > value => {
                self.clear_progress(stream);
                return;
            }
            Some(old) if old == value => {
                for pair in self.recent(stream) {
                    if !recent.contains(&pair) {
                        recent.push(pair);
                    }
                }
            }
            _ => {}
        }
        let bookmarks = self.value.entry("bookmarks").or_insert_with(|| json!({}));
        if let Value::Object(b) = bookmarks {
            let mut bm = json!({"replication_key": key, "replication_key_value": value});
            if !recent.is_empty() {
                let pairs: Vec<Value> = recent.into_iter().map(|(k, v)| json!([k, v])).collect();
                bm["recent"] = Value::Array(pairs);
            }
            b.insert(stream.to_string(), bm);
        }
    }

    /// What an unfinished pass of the stream left (`pass` under its bookmark), if anything.
    pub fn progress(&self, stream: &str) -> Option<&Value> {
        self.value.get("bookmarks")?.get(stream)?.get("pass")
    }

    /// Records how far an unfinished pass of the stream got (`pass` under its bookmark, beside its
    /// replication key and value, as the Meltano SDK keeps its own progress markers); the next
    /// `advance` drops it.
    pub fn record_progress(&mut self, stream: &str, key: &str, progress: Value) {
        let bookmarks = self.value.entry("bookmarks").or_insert_with(|| json!({}));
        if let Value::Object(b) = bookmarks {
            let bm = b
                .entry(stream.to_string())
                .or_insert_with(|| json!({"replication_key": key}));
            if let Value::Object(bm) = bm {
                bm.insert("pass".into(), progress);
            }
        }
    }

    /// Drops what an unfinished pass of the stream left.
    pub fn clear_progress(&mut self, stream: &str) {
        if let Some(Value::Object(bm)) = self
            .value
            .get_mut("bookmarks")
            .and_then(|b| b.get_mut(stream))
        {
            bm.remove("pass");
        }
    }

    /// Replaces a stream's bookmark by `value` even if that moves it back (a bookmark in the future
    /// would hold the stream back until then); what it remembered is dropped.
    pub fn rewind(&mut self, stream: &str, key: &str, value: i64) {
        let bookmarks = self.value.entry("bookmarks").or_insert_with(|| json!({}));
        if let Value::Object(b) = bookmarks {
            let bm = json!({"replication_key": key, "replication_key_value": value});
            b.insert(stream.to_string(), bm);
        }
    }

    /// The pace the last run settled on, if the state keeps one it can read (one it cannot is
    /// ignored with a warning: the run finds the pace again).
    pub fn pace(&self) -> Option<Pace> {
        let v = self.value.get(PACE_KEY).filter(|v| !v.is_null())?;
        match Pace::from_value(v) {
            Ok(pace) => Some(pace),
            Err(why) => {
                tracing::warn!("ignoring the state's pace ({why}: {v}): the run finds Drift's pace again from 300 a minute");
                None
            }
        }
    }

    /// Keeps the pace this run learnt, for the next run.
    pub fn set_pace(&mut self, pace: &Pace) {
        self.value.insert(PACE_KEY.into(), pace.to_value());
    }

    /// The value to emit in a STATE message.
    pub fn to_value(&self) -> Value {
        let mut v = self.value.clone();
        v.entry("bookmarks").or_insert_with(|| json!({}));
        Value::Object(v)
    }
}

/// The top-level keys of a state the tap knows: its bookmarks, the pace, and the Singer spec's
/// `currently_syncing` (carried as it is).
const KNOWN_KEYS: &[&str] = &["bookmarks", PACE_KEY, "currently_syncing"];

/// A state value without the wrappings it may come in: Meltano's export (`{"singer_state": …}`,
/// one info line) and a whole STATE message (a warning: a common mistake), in any nesting.
fn unwrapped(mut value: Value) -> Value {
    loop {
        let Value::Object(m) = &mut value else {
            return value;
        };
        if m.len() == 1
            && m.get("singer_state")
                .is_some_and(|s| s.is_object() || s.is_null())
        {
            tracing::info!("the state is wrapped as Meltano exports it (\"singer_state\"); using what it wraps");
            value = m.remove("singer_state").unwrap_or_default();
        } else if m.get("type").and_then(Value::as_str) == Some("STATE")
            && m.get("value").is_some_and(Value::is_object)
        {
            tracing::warn!("the state file holds a whole STATE message; using its \"value\" (save only the value next time)");
            value = m.remove("value").unwrap_or_default();
        } else {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sdk_state_with_leftovers() {
        let s = State::from_value(json!({"bookmarks": {
            "conversations": {"replication_key_signpost": "2026-01-01T00:00:00+00:00", "starting_replication_value": null,
                "replication_key": "updatedAt", "replication_key_value": 1700000000000i64,
                "progress_markers": {"Note": "Progress is not resumable if interrupted."}},
            "other": {"x": 1}}, "currently_syncing": null})).unwrap();
        assert_eq!(
            s.bookmark("conversations", "updatedAt").unwrap(),
            Some(1_700_000_000_000)
        );
        assert_eq!(s.bookmark("users", "updatedAt").unwrap(), None);
        assert_eq!(s.bookmark("conversations", "createdAt").unwrap(), None);
    }

    #[test]
    fn advance_never_goes_back_and_carries_others() {
        let mut s = State::from_value(json!({"bookmarks": {"x": {"a": 1}}})).unwrap();
        s.advance("users", "updatedAt", 10, vec![(json!(1), 10)]);
        s.advance("users", "updatedAt", 5, vec![(json!(2), 5)]);
        assert_eq!(s.bookmark("users", "updatedAt").unwrap(), Some(10));
        assert_eq!(s.recent("users"), vec![(json!(1), 10)]);
        s.advance("users", "updatedAt", 10, vec![(json!(3), 8)]);
        assert_eq!(s.recent("users"), vec![(json!(3), 8), (json!(1), 10)]);
        s.advance("users", "updatedAt", 11, vec![]);
        assert!(s.recent("users").is_empty());
        assert_eq!(s.to_value()["bookmarks"]["x"], json!({"a": 1}));
        assert_eq!(
            s.to_value()["bookmarks"]["users"],
            json!({"replication_key": "updatedAt", "replication_key_value": 11})
        );
    }

    #[test]
    fn boundary_keys_of_an_older_state_are_read_as_pairs_at_the_bookmark() {
        let s = State::from_value(
            json!({"bookmarks": {"users": {"replication_key": "updatedAt",
            "replication_key_value": 7, "boundary_keys": [1, "a"]}}}),
        )
        .unwrap();
        assert_eq!(s.recent("users"), vec![(json!(1), 7), (json!("a"), 7)]);
    }

    #[test]
    fn a_whole_state_message_is_unwrapped() {
        let s = State::from_value(json!({"type": "STATE", "value": {"bookmarks": {"users": {"replication_key": "updatedAt", "replication_key_value": 5}}}})).unwrap();
        assert_eq!(s.bookmark("users", "updatedAt").unwrap(), Some(5));
        assert!(s.to_value().get("type").is_none());
    }

    #[test]
    fn a_meltano_wrapped_state_is_unwrapped() {
        let bm = json!({"replication_key": "updatedAt", "replication_key_value": 5});
        let s = State::from_value(json!({"singer_state": {"bookmarks": {"users": bm}}})).unwrap();
        assert_eq!(s.bookmark("users", "updatedAt").unwrap(), Some(5));
        let s = State::from_value(
            json!({"type": "STATE", "value": {"singer_state": {"bookmarks": {"users": bm}}}}),
        )
        .unwrap();
        assert_eq!(s.to_value(), json!({"bookmarks": {"users": bm}}));
        // a key beside it is not Meltano's shape: left for keep_known to name
        let s = State::from_value(json!({"singer_state": {}, "x": 1})).unwrap();
        assert!(s.to_value().get("singer_state").is_some());
    }

    #[test]
    fn what_the_tap_does_not_know_is_dropped() {
        let bm = json!({"replication_key": "updatedAt", "replication_key_value": 5});
        let mut s = State::from_value(json!({"conversations": bm, "x": 1})).unwrap();
        s.keep_known(&["users", "conversations"]);
        assert_eq!(s.to_value(), json!({"bookmarks": {}}));
        let mut s = State::from_value(
            json!({"bookmarks": {"users": bm, "tickets": bm}, "currently_syncing": null, "x": 1}),
        )
        .unwrap();
        s.keep_known(&["users", "conversations"]);
        assert_eq!(
            s.to_value(),
            json!({"bookmarks": {"users": bm}, "currently_syncing": null})
        );
        let mut s = State::from_value(json!({"bookmarks": {"tickets": bm}})).unwrap();
        s.keep_known(&["users"]);
        assert_eq!(s.to_value(), json!({"bookmarks": {}}));
    }

    #[test]
    fn the_pace_is_kept_beside_the_bookmarks_and_a_bad_one_is_ignored() {
        let bm = json!({"replication_key": "updatedAt", "replication_key_value": 5});
        let mut s = State::from_value(json!({"bookmarks": {"users": bm}})).unwrap();
        assert_eq!(s.pace(), None);
        let pace = Pace {
            per_minute: 2_716.4,
            limit_found: true,
            run_started_at: Some("2026-01-01T00:00:00Z".into()),
        };
        s.set_pace(&pace);
        let kept = json!({"requests_per_minute": 2_716, "limit_found": true, "run_started_at": "2026-01-01T00:00:00Z"});
        assert_eq!(
            s.to_value(),
            json!({"bookmarks": {"users": bm}, "pace": kept})
        );
        let mut again = State::from_value(s.to_value()).unwrap();
        again.keep_known(&["users"]);
        assert_eq!(again.to_value()["pace"], kept, "a key the tap knows");
        let read = again.pace().unwrap();
        assert_eq!((read.per_minute, read.limit_found), (2_716.0, true));
        for bad in [
            json!({"requests_per_minute": "fast"}),
            json!({"requests_per_minute": 0}),
            json!(7),
            json!({"requests_per_minute": 10, "limit_found": "yes"}),
        ] {
            let s = State::from_value(json!({"pace": bad})).unwrap();
            assert_eq!(s.pace(), None, "{bad}");
        }
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(State::from_value(json!([1])).is_err());
        assert!(State::from_value(json!({"bookmarks": 3})).is_err());
        let s = State::from_value(json!({"bookmarks": {"users": {"replication_key_value": true}}}))
            .unwrap();
        assert!(s.bookmark("users", "updatedAt").is_err());
    }
}
