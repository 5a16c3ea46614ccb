//! The emulator's truth, for checks: every record of a stream as a read that misses nothing gets
//! it, and how many records of each stream there are and how many changed since a time. Reads the
//! world; serves nothing, changes nothing.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Map, Value};

use crate::collections::COLLECTIONS;
use crate::world::World;
use crate::{collection, reports};

/// The streams read from a conversation rather than from a list of their own: its messages, the
/// contact it references, its report row.
const OF_CONVERSATIONS: &[&str] = &["messages", "contacts", "conversation_metrics"];

/// Every stream the emulator serves: each listed collection, then those read from conversations.
fn streams() -> impl Iterator<Item = &'static str> {
    COLLECTIONS
        .iter()
        .map(|s| s.name)
        .chain(OF_CONVERSATIONS.iter().copied())
}

/// Every record of a stream (see `Emulator::records`); none of a collection the account lacks.
pub fn records(w: &World, stream: &str) -> Vec<Value> {
    if w.variants().absent.contains(&stream) {
        return Vec::new();
    }
    let conversations = collection("conversations");
    match stream {
        "meetings" => w.meetings(0, i64::MAX),
        "conversation_metrics" => reports::truth(w),
        "messages" => (0..w.count(conversations))
            .flat_map(|p| w.messages(w.at_position(conversations, p)))
            .collect(),
        "contacts" => {
            let mut seen = HashSet::new();
            w.all(conversations)
                .iter()
                .filter_map(|c| c["contactId"].as_i64())
                .filter(|id| seen.insert(*id))
                .filter_map(|id| w.dataset().contact(id))
                .map(|mut c| {
                    w.variants().shape("contacts", &mut c);
                    c
                })
                .collect()
        }
        other => w.all(collection(other)),
    }
}

/// Per stream: `records`, how many [`records`] gives; `changed`, how many were updated at or after
/// `since_ms`, or belong to a conversation that was (its messages, its report row, the contact it
/// references); `listed`, whether the stream has a list of its own (contacts are fetched by id).
pub fn counts(w: &World, since_ms: i64) -> Value {
    let key = |v: &Value| v.to_string();
    let changed: BTreeSet<String> = w
        .changed_since(collection("conversations"), since_ms)
        .iter()
        .map(key)
        .collect();
    let contacts: HashSet<String> = records(w, "conversations")
        .iter()
        .filter(|c| changed.contains(&key(&c["id"])))
        .map(|c| key(&c["contactId"]))
        .collect();
    let mut counts = Map::new();
    for stream in streams() {
        let all = records(w, stream);
        let of_changed = |field: &str, among: &dyn Fn(&String) -> bool| {
            all.iter().filter(|r| among(&key(&r[field]))).count()
        };
        let changed_n = match stream {
            "messages" | "conversation_metrics" => {
                of_changed("conversationId", &|id| changed.contains(id))
            }
            "contacts" => of_changed("id", &|id| contacts.contains(id)),
            _ if all.is_empty() => 0,
            other => w.changed_since(collection(other), since_ms).len(),
        };
        let listed = stream != "contacts";
        counts.insert(
            stream.into(),
            json!({"records": all.len(), "changed": changed_n, "listed": listed}),
        );
    }
    Value::Object(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, EPOCH_END_MS};
    use crate::variants::Variants;

    #[test]
    fn counts_say_what_changed_and_what_belongs_to_it() {
        let data = Dataset {
            seed: 2,
            users: 4,
            accounts: 6,
            conversations: 30,
            playbooks: 8,
            teams: 2,
            ..Dataset::default()
        };
        let mut w = World::new(data, Variants::default(), false, 0);
        let conversations = collection("conversations");
        let at = EPOCH_END_MS + 1_000;
        w.touch(conversations, &[3, 9], at);
        let counts = counts(&w, at);
        for stream in streams() {
            assert_eq!(
                counts[stream]["records"],
                records(&w, stream).len(),
                "{stream}"
            );
        }
        assert_eq!(counts["conversations"]["changed"], 2);
        let messages: usize = [3, 9].iter().map(|i| w.messages(*i).len()).sum();
        assert_eq!(counts["messages"]["changed"], messages);
        assert_eq!(counts["conversation_metrics"]["changed"], 2);
        let contacts: HashSet<i64> = [3, 9]
            .iter()
            .filter_map(|i| w.record(conversations, *i, true)["contactId"].as_i64())
            .filter(|id| w.dataset().contact(*id).is_some())
            .collect();
        assert_eq!(counts["contacts"]["changed"], contacts.len());
        assert_eq!(counts["contacts"]["listed"], false);
        assert_eq!(counts["users"]["changed"], 0);
        assert_eq!(counts["users"]["listed"], true);
    }
}
