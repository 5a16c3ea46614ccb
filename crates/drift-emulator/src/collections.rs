//! The listed collections, as data: one [`Spec`] per collection in [`COLLECTIONS`], keyed by the
//! name of the stream that reads it, with its list's path, answer and scope, and how its records
//! are generated, keyed and changed. A new one-call collection is one entry here (spread from
//! `Spec::LIST`) and its count and generator in `data.rs`: the one route of such lists serves it,
//! the token check knows its scope, the truth counts it. Meetings are keyed by `slotStart` (their
//! `eventId` is not always present). Serves nothing, holds no state.

use serde_json::{json, Value};

use crate::data::Dataset;
use crate::world::World;

/// How a collection's list answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// One call, every record: `{"data": [...]}` (served by the one route of such lists).
    Data,
    /// One call, every record, as a bare array (likewise).
    Bare,
    /// Paged or by spans of time: a handler of its own in `routes.rs`.
    Own,
}

/// How one listed collection is served, generated, keyed and changed.
pub struct Spec {
    /// The stream (and list endpoint) name.
    pub name: &'static str,
    /// The key field.
    pub key: &'static str,
    /// The path of its list.
    pub path: &'static str,
    /// How its list answers.
    pub answer: Answer,
    /// The OAuth scope a token needs to read it (its list, and its records by id).
    pub scope: &'static str,
    /// The update-time field (epoch ms), if its records have one.
    pub updated: Option<&'static str>,
    /// The creation-time field (epoch ms), set on added records, if the records have one.
    pub(crate) created: Option<&'static str>,
    /// How many records the dataset generates.
    pub(crate) count: fn(&Dataset) -> u32,
    /// The i-th record: `full` as the single-record endpoint returns it, else as the list does.
    pub(crate) record: fn(&World, u32, bool) -> Value,
    /// The generation index of a key, if the key is of this collection's form.
    pub(crate) index: fn(&World, &str) -> Option<u32>,
    /// What a change does besides moving the update time.
    pub(crate) change: fn(&mut Value),
    /// Listed most recently updated first (else by generation index).
    pub(crate) newest_first: bool,
    /// For a collection with no records of its own: the one its records are made from.
    pub(crate) of: Option<Of>,
}

/// How a collection's records are made from another's: at most one from each record as that
/// collection serves it (its switches and changes applied). The two share indices, deletions and
/// changes.
#[derive(Clone, Copy)]
pub struct Of {
    /// The collection the records are made from.
    pub collection: &'static str,
    /// The record made from its i-th record, if that one makes any.
    pub make: fn(&Dataset, &Value, u32) -> Option<Value>,
}

impl Spec {
    /// A one-call list answering `{"data": [...]}`, keyed by `id`, in generation order, whose
    /// records have no update or creation time and change in no field: the base a collection
    /// spreads from (`Spec { name, path, scope, count, record, index, ..Spec::LIST }`).
    const LIST: Spec = Spec {
        name: "",
        key: "id",
        path: "",
        answer: Answer::Data,
        scope: "",
        updated: None,
        created: None,
        count: |_| 0,
        record: |_, _, _| Value::Null,
        index: |_, _| None,
        change: |_| {},
        newest_first: false,
        of: None,
    };
}

fn flip(v: &mut Value, field: &str, a: &str, b: &str) {
    v[field] = json!(if v[field] == a { b } else { a });
}

/// Every listed collection.
pub static COLLECTIONS: &[Spec] = &[
    Spec {
        name: "accounts",
        key: "accountId",
        path: "/accounts",
        answer: Answer::Own,
        scope: "account_read",
        updated: Some("updateDateTime"),
        created: Some("createDateTime"),
        count: |d| d.accounts,
        record: |w, i, _| w.dataset().account(i),
        index: |w, key| w.dataset().account_index(key),
        change: |v| {
            let renamed = format!("{} (renamed)", v["name"].as_str().unwrap_or_default());
            v["name"] = json!(renamed);
        },
        ..Spec::LIST
    },
    Spec {
        name: "conversations",
        path: "/conversations/list",
        answer: Answer::Own,
        scope: "conversation_read",
        updated: Some("updatedAt"),
        created: Some("createdAt"),
        count: |d| d.conversations,
        record: |w, i, full| w.dataset().conversation(i, full),
        index: |w, key| w.dataset().conversation_index(key),
        change: |v| flip(v, "status", "open", "closed"),
        newest_first: true,
        ..Spec::LIST
    },
    Spec {
        name: "users",
        path: "/users/list",
        scope: "user_read",
        updated: Some("updatedAt"),
        created: Some("createdAt"),
        count: |d| d.users,
        record: |w, i, _| w.dataset().user(i),
        index: |w, key| w.dataset().user_index(key),
        change: |v| flip(v, "availability", "AVAILABLE", "OFFLINE"),
        ..Spec::LIST
    },
    Spec {
        name: "playbooks",
        path: "/playbooks/list",
        answer: Answer::Bare,
        scope: "playbook_read",
        updated: Some("updatedAt"),
        created: Some("createdAt"),
        count: |d| d.playbooks,
        record: |w, i, _| w.dataset().playbook(i),
        index: |w, key| w.dataset().playbook_index(key),
        change: |v| {
            let renamed = format!("{} (edited)", v["name"].as_str().unwrap_or_default());
            v["name"] = json!(renamed);
        },
        ..Spec::LIST
    },
    Spec {
        // the conversational landing pages: every 4th playbook has one
        name: "landing_pages",
        key: "playbookId",
        path: "/playbooks/clp",
        answer: Answer::Bare,
        scope: "playbook_read",
        of: Some(Of {
            collection: "playbooks",
            make: Dataset::landing_page,
        }),
        ..Spec::LIST
    },
    Spec {
        name: "teams",
        path: "/teams/org",
        scope: "user_read",
        updated: Some("updatedAt"),
        count: |d| d.teams,
        record: |w, i, _| w.dataset().team(i),
        index: |w, key| w.dataset().team_index(key),
        change: |v| flip(v, "status", "ENABLED", "ARCHIVED"),
        ..Spec::LIST
    },
    Spec {
        name: "meetings",
        key: "slug",
        path: "/users/meetings/org",
        answer: Answer::Own,
        scope: "user_read",
        updated: Some("updatedAt"),
        count: |d| d.meetings,
        record: |w, i, _| w.dataset().meeting(i, w.now_ms()),
        index: |w, key| w.dataset().meeting_index(key, w.now_ms()),
        change: |v| flip(v, "status", "ACTIVE", "CANCELLED"),
        ..Spec::LIST
    },
];

/// Looks a collection up by its stream name.
pub fn spec(name: &str) -> Option<&'static Spec> {
    COLLECTIONS.iter().find(|s| s.name == name)
}
