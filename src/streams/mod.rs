//! The streams, as data: one [`StreamDef`] per stream in [`STREAMS`], plus its column table in
//! `schemas/columns/`, from which `schema.rs` generates its JSON Schema. Adding a stream is one
//! entry here and one column table. Names Drift's endpoints (as `drift` types) but sends nothing;
//! knows nothing of Singer.

pub mod columns;
pub mod schema;

use crate::drift::page::{Endpoint, Order, PageSize, Pagination};
use crate::drift::read::Detail;

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
            order: Order::Unordered,
        },
        detail: None,
        parent: None,
        scope: "account_read",
    },
    StreamDef {
        name: "conversations",
        columns: include_str!("../../schemas/columns/conversations.txt"),
        key: "id",
        replication_key: Some("updatedAt"),
        incremental_by_default: true,
        list: Endpoint {
            path: "/conversations/list",
            records_at: "/data",
            total_at: None,
            pagination: Pagination::Cursor,
            page_size: Some(PageSize {
                param: "limit",
                max: 50,
                max_links: Some(100),
            }),
            order: Order::Descending,
        },
        detail: Some(Detail {
            path: "/conversations/{id}",
            fields: &["participants", "conversationTags", "relatedPlaybookId"],
        }),
        parent: None,
        scope: "conversation_read",
    },
    StreamDef {
        name: "users",
        columns: include_str!("../../schemas/columns/users.txt"),
        key: "id",
        replication_key: Some("updatedAt"),
        // one call for every user: reading them whole each run also tells the target which are gone
        incremental_by_default: false,
        list: Endpoint {
            path: "/users/list",
            records_at: "/data",
            total_at: None,
            pagination: Pagination::Single,
            page_size: None,
            order: Order::Unordered,
        },
        detail: None,
        parent: None,
        scope: "user_read",
    },
    StreamDef {
        name: "messages",
        columns: include_str!("../../schemas/columns/messages.txt"),
        key: "id",
        replication_key: Some("conversationUpdatedAt"),
        incremental_by_default: true,
        // fixed pages of 50 (no `limit` is documented): the tap takes the pages Drift gives
        list: Endpoint {
            path: "/conversations/{id}/messages",
            records_at: "/data/messages",
            total_at: None,
            pagination: Pagination::Cursor,
            page_size: None,
            order: Order::Unordered,
        },
        detail: None,
        parent: Some(Parent {
            stream: "conversations",
            via: Child::PerParent {
                parent_key_field: "conversationId",
            },
        }),
        scope: "conversation_read",
    },
    StreamDef {
        name: "contacts",
        columns: include_str!("../../schemas/columns/contacts.txt"),
        key: "id",
        replication_key: None,
        incremental_by_default: false,
        list: Endpoint {
            path: "/contacts/{id}",
            records_at: "/data",
            total_at: None,
            pagination: Pagination::Single,
            page_size: None,
            order: Order::Unordered,
        },
        detail: None,
        parent: Some(Parent {
            stream: "conversations",
            via: Child::Referenced {
                parent_field: "contactId",
            },
        }),
        scope: "contact_read",
    },
];

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

/// Endpoints with a documented rate cap of their own (path prefix, requests a minute).
pub fn capped_endpoints() -> Vec<(&'static str, u32)> {
    vec![("/reports", 60)]
}
