//! The streams, as data: one [`StreamDef`] per stream in [`STREAMS`], plus its column table in
//! `schemas/columns/`, from which `schema.rs` generates its JSON Schema. Adding a stream is one
//! entry here and one column table (a simple one spreads from [`StreamDef::LIST`]); the catalog,
//! the scope prose, `--estimate`'s costs and the README's streams table follow from the entry.
//! Names Drift's endpoints (as `drift` types) but sends nothing; knows nothing of Singer.

pub mod attributes;
pub mod columns;
pub mod infer;
pub mod schema;

use serde_json::{Map, Value};

use crate::config::Setting;
use crate::drift::page::{Endpoint, Order, PageSize, Pagination};
use crate::drift::read::Detail;
use crate::drift::span::Span;

/// How a child stream hangs off its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// A paged list per parent record (the list path has `{id}` for the parent's key); each record
    /// gets the parent's key as `parent_key_field` and the parent's replication key value as the
    /// child's own replication key.
    PerParent {
        /// The field naming the parent on each child record.
        parent_key_field: &'static str,
    },
    /// One record per distinct id the parents reference in `parent_field` (the path has `{id}`).
    Referenced {
        /// The parent's field holding the referenced id.
        parent_field: &'static str,
    },
}

/// A child stream's parent, and how the child is read from it.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    /// The parent stream's name.
    pub stream: &'static str,
    /// How the child is read.
    pub via: Child,
}

/// How a derived field is made from a record's other fields.
pub type Make = fn(&Map<String, Value>) -> Value;

/// A field the tap adds to each record of a stream (Drift sends none that would do), made from the
/// record's other fields.
#[derive(Debug, Clone, Copy)]
pub struct Derived {
    /// The field it fills.
    pub field: &'static str,
    /// A field every record must carry (checked as a list's records are).
    pub requires: &'static str,
    /// How the field is made.
    pub make: Make,
    /// How an earlier version of the tap made it, when that differs: the keys a state of that
    /// version remembers sending are recognised (and remembered anew) under the field's new value.
    pub legacy: Option<Make>,
}

/// The fields that together tell one booked meeting from every other, in the order of its key.
/// Drift documents no id: `slug` is the model's "Meeting ID", but may name the booking page the
/// meeting was booked through (shared by many); `eventId` is absent on some meetings, and one
/// calendar event may hold several; and many meetings share a `slotStart`.
pub const MEETING_KEY_FIELDS: [&str; 5] =
    ["slug", "eventId", "agentId", "schedulerId", "slotStart"];

/// A booked meeting's key: the JSON array of its [`MEETING_KEY_FIELDS`] (null where absent), as
/// text. Distinct for meetings that differ in any of them, however many share a slot.
fn meeting_id(m: &Map<String, Value>) -> Value {
    let parts: Vec<Value> = MEETING_KEY_FIELDS
        .iter()
        .map(|f| m.get(*f).cloned().unwrap_or(Value::Null))
        .collect();
    Value::from(Value::Array(parts).to_string())
}

/// The key earlier versions of the tap gave a booked meeting: its calendar eventId, else
/// agentId:slotStart:schedulerId.
fn legacy_meeting_id(m: &Map<String, Value>) -> Value {
    match m
        .get("eventId")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        Some(event) => Value::from(event),
        None => {
            let part = |f: &str| m.get(f).map(Value::to_string).unwrap_or_default();
            Value::from(format!(
                "{}:{}:{}",
                part("agentId"),
                part("slotStart"),
                part("schedulerId")
            ))
        }
    }
}

/// Everything the sync engine needs to know about one stream.
#[derive(Debug)]
pub struct StreamDef {
    /// tap_stream_id, stream name and table name.
    pub name: &'static str,
    /// The column table (schemas/columns/<name>.txt).
    pub columns: &'static str,
    /// The primary key (a single field).
    pub key: &'static str,
    /// The replication key, an epoch-millisecond field; `None` for FULL_TABLE streams.
    pub replication_key: Option<&'static str>,
    /// Whether it is read incrementally unless the catalog says otherwise (a stream with a
    /// replication key may still default to FULL_TABLE, when reading it whole is cheap).
    pub incremental_by_default: bool,
    /// The list (or, for a referenced stream, the single-record) endpoint.
    pub list: Endpoint,
    /// The detail endpoint that completes list records, when the list omits fields.
    pub detail: Option<Detail>,
    /// For a child stream: its parent and how it is read from it.
    pub parent: Option<Parent>,
    /// The OAuth scope a token needs to read it.
    pub scope: &'static str,
    /// A field the tap makes for each record (the key, when Drift documents none).
    pub derived: Option<Derived>,
    /// Whether Drift may not serve it for every account (a 404 or 400 skips it with a warning).
    pub optional: bool,
    /// How many days back Drift keeps its records, when it forgets older ones.
    pub history_days: Option<u32>,
    /// What the README's streams table says of it (Markdown, one line).
    pub notes: &'static str,
    /// Open-ended attributes whose types the account lists: each becomes a typed column.
    pub typed_attributes: Option<TypedAttributes>,
}

/// A stream's open-ended attributes object whose fields, with their types, another endpoint lists
/// (the account's data model): each becomes a column of its own (see `attributes.rs`).
#[derive(Debug, Clone, Copy)]
pub struct TypedAttributes {
    /// The endpoint listing them (`{"data": {"properties": [{"name", "type", "displayName"}]}}`).
    pub list: &'static str,
    /// The record's field holding them, as one object.
    pub field: &'static str,
    /// The scope the list needs.
    pub scope: &'static str,
}

impl StreamDef {
    /// A stream read whole from one call, keyed by `id`, needing nothing else: the base an entry
    /// spreads from (`StreamDef { name, columns, list, scope, notes, ..StreamDef::LIST }`).
    pub const LIST: StreamDef = StreamDef {
        name: "",
        columns: "",
        key: "id",
        replication_key: None,
        incremental_by_default: false,
        list: Endpoint::SINGLE,
        detail: None,
        parent: None,
        scope: "",
        derived: None,
        optional: false,
        history_days: None,
        notes: "",
        typed_attributes: None,
    };

    /// The field every record of its list must carry (its key, unless the tap makes the key).
    pub fn list_key(&self) -> &'static str {
        self.derived.map_or(self.key, |d| d.requires)
    }
}

/// Every stream the tap knows, in sync order.
pub static STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "accounts",
        columns: include_str!("../../schemas/columns/accounts.txt"),
        key: "accountId",
        replication_key: Some("updateDateTime"),
        incremental_by_default: true,
        list: Endpoint {
            path: "/accounts",
            records_at: "/data/accounts",
            total_at: Some("/data/total"),
            pagination: Pagination::IndexSize,
            page_size: Some(PageSize {
                param: "size",
                max: 65,
                max_links: None,
            }),
            ..Endpoint::SINGLE
        },
        scope: "account_read",
        notes: "paged by `index`/`size` (65 a page), following `data.next`, checked against the list's `total`; deleted accounts included",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "conversations",
        columns: include_str!("../../schemas/columns/conversations.txt"),
        replication_key: Some("updatedAt"),
        incremental_by_default: true,
        list: Endpoint {
            path: "/conversations/list",
            pagination: Pagination::Cursor,
            page_size: Some(PageSize {
                param: "limit",
                max: 50,
                max_links: Some(100),
            }),
            order: Order::Descending,
            ..Endpoint::SINGLE
        },
        detail: Some(Detail {
            path: "/conversations/{id}",
            fields: &["participants", "conversationTags", "relatedPlaybookId"],
        }),
        scope: "conversation_read",
        notes: "cursor paging (`pagination.next`, 50 a page, or `links.next`, 100 a page); each record completed from `GET /conversations/{id}` (participants, tags, playbook), concurrently",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "users",
        columns: include_str!("../../schemas/columns/users.txt"),
        replication_key: Some("updatedAt"),
        // one call for every user: reading them whole each run also tells the target which are gone
        incremental_by_default: false,
        list: Endpoint {
            path: "/users/list",
            ..Endpoint::SINGLE
        },
        scope: "user_read",
        notes: "one call, no paging; read whole every run, so users removed from Drift are marked deleted (`ACTIVATE_VERSION`)",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "messages",
        columns: include_str!("../../schemas/columns/messages.txt"),
        replication_key: Some("conversationUpdatedAt"),
        incremental_by_default: true,
        // fixed pages of 50 (no `limit` is documented): the tap takes the pages Drift gives
        list: Endpoint {
            path: "/conversations/{id}/messages",
            records_at: "/data/messages",
            pagination: Pagination::Cursor,
            ..Endpoint::SINGLE
        },
        parent: Some(Parent {
            stream: "conversations",
            via: Child::PerParent {
                parent_key_field: "conversationId",
            },
        }),
        scope: "conversation_read",
        notes: "child of `conversations`, cursor paging per conversation; every record carries `conversationId` and `conversationUpdatedAt` (the conversation's `updatedAt` when read)",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "contacts",
        columns: include_str!("../../schemas/columns/contacts.txt"),
        list: Endpoint {
            path: "/contacts/{id}",
            ..Endpoint::SINGLE
        },
        parent: Some(Parent {
            stream: "conversations",
            via: Child::Referenced {
                parent_field: "contactId",
            },
        }),
        scope: "contact_read",
        notes: "the contacts referenced (`contactId`) by the conversations read in the run, each fetched once; `attributes` kept whole as an object and, with the `all_contact_read` scope, each of the account's contact attributes (`GET /contacts/attributes`) as a typed column too; a deleted contact (404) is logged and skipped",
        typed_attributes: Some(TypedAttributes {
            list: "/contacts/attributes",
            field: "attributes",
            scope: "all_contact_read",
        }),
        ..StreamDef::LIST
    },
    StreamDef {
        name: "playbooks",
        columns: include_str!("../../schemas/columns/playbooks.txt"),
        replication_key: Some("updatedAt"),
        // one call for every playbook: read whole, so removed ones are marked deleted
        incremental_by_default: false,
        list: Endpoint {
            path: "/playbooks/list",
            records_at: "",
            ..Endpoint::SINGLE
        },
        scope: "playbook_read",
        notes: "one call (a bare array); read whole every run; what `relatedPlaybookId` points at",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "landing_pages",
        columns: include_str!("../../schemas/columns/landing_pages.txt"),
        key: "playbookId",
        list: Endpoint {
            path: "/playbooks/clp",
            records_at: "",
            ..Endpoint::SINGLE
        },
        scope: "playbook_read",
        optional: true,
        notes: "conversational landing pages, one call; skipped with a warning when Drift does not serve them for the account",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "teams",
        columns: include_str!("../../schemas/columns/teams.txt"),
        replication_key: Some("updatedAt"),
        list: Endpoint {
            path: "/teams/org",
            ..Endpoint::SINGLE
        },
        scope: "user_read",
        notes: "one call; read whole every run",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "meetings",
        columns: include_str!("../../schemas/columns/meetings.txt"),
        key: "meetingId",
        replication_key: Some("slotStart"),
        incremental_by_default: true,
        list: Endpoint {
            path: "/users/meetings/org",
            pagination: Pagination::Span(Span::Query {
                min: "min_start_time",
                max: "max_start_time",
                limit: 1000,
                ahead_days: 365,
            }),
            ..Endpoint::SINGLE
        },
        scope: "user_read",
        derived: Some(Derived {
            field: "meetingId",
            requires: "slotStart",
            make: meeting_id,
            legacy: Some(legacy_meeting_id),
        }),
        history_days: Some(30),
        notes: "booked meetings from the window's start to a year ahead, split when an answer holds Drift's 1000; Drift keeps only the last 30 days (a warning says when the window starts before that): schedule the tap at least weekly. `meetingId` is made of every field that tells meetings apart, many of which share a slot (Drift documents no id; see \"Booked meetings' key\")",
        ..StreamDef::LIST
    },
    StreamDef {
        name: "conversation_metrics",
        columns: include_str!("../../schemas/columns/conversation_metrics.txt"),
        key: "conversationId",
        replication_key: Some("updatedAt"),
        incremental_by_default: true,
        list: Endpoint {
            path: "/reports/conversations",
            pagination: Pagination::Span(Span::Report {
                property: "updatedAt",
                key: "conversationId",
            }),
            rate_cap: Some(60),
            ..Endpoint::SINGLE
        },
        scope: "conversation_read",
        optional: true,
        notes: "Drift's Conversation Reporting API: one record per conversation updated in the window (time to close, to first agent response, message counts, …; \"NaN\" is null), the selected metrics only, one call per window (split when the answer's `count` says rows are missing), at the API's own 60 calls a minute; skipped with a warning if Drift refuses the report",
        ..StreamDef::LIST
    },
];

/// The stream whose attributes the account types (contacts), if one is.
pub fn typed() -> Option<(&'static StreamDef, TypedAttributes)> {
    STREAMS
        .iter()
        .find_map(|d| d.typed_attributes.map(|t| (d, t)))
}

/// The fields a stream's column table declares, by name.
pub fn own_fields(def: &StreamDef) -> Vec<String> {
    schema::stream_schema(def, crate::config::TimestampFormat::EpochMs)
        .ok()
        .and_then(|s| s.get("properties").and_then(Value::as_object).cloned())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Looks a stream up by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}

/// The names of every stream, in sync order, joined for prose ("accounts, conversations, …").
pub fn names() -> String {
    STREAMS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Endpoints with a rate cap of their own (path prefix, requests a minute), from the table.
pub fn capped_endpoints() -> Vec<(&'static str, u32)> {
    STREAMS
        .iter()
        .filter_map(|s| s.list.rate_cap.map(|cap| (s.list.path, cap)))
        .collect()
}

/// Each scope the streams need, in sync order of first need, with the streams that need it, for
/// prose: "account_read (accounts), conversation_read (conversations, messages, …), …".
pub fn scopes() -> String {
    let mut scopes: Vec<(&str, Vec<&str>)> = Vec::new();
    for s in STREAMS {
        match scopes.iter_mut().find(|(scope, _)| *scope == s.scope) {
            Some((_, names)) => names.push(s.name),
            None => scopes.push((s.scope, vec![s.name])),
        }
    }
    let mut text: Vec<String> = scopes
        .iter()
        .map(|(scope, names)| format!("{scope} ({})", names.join(", ")))
        .collect();
    for s in STREAMS {
        if let Some(t) = s.typed_attributes {
            text.push(format!(
                "{} (optional: {}' attributes as typed columns)",
                t.scope, s.name
            ));
        }
    }
    text.join(", ")
}

/// A setting's description as shown to people, with `{scopes}` spelled out from the table.
pub fn describe(setting: &Setting) -> String {
    setting.description.replace("{scopes}", &scopes())
}
