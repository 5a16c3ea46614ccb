//! The streams, as data: one [`StreamDef`] per stream, plus its column table in `schemas/columns/`.
//! Adding a stream is one entry here and one column table. No I/O, no Singer, no HTTP.

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    /// One call returns everything.
    None,
    /// `index`/`size` query parameters; the response carries the absolute URL of the next page.
    IndexSize,
    /// `limit` plus an opaque cursor: `pagination.next` (sent back as `next`) or `links.next` (a URL).
    Cursor,
}

/// The order in which an endpoint lists its records, with respect to the replication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// No documented order: read everything, filter client-side.
    Unordered,
    /// Most recently updated first: stop paging at the first record older than the bookmark.
    Descending,
}

/// How a child stream hangs off its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// A paged list per parent record (`path` has `{id}` for the parent's key); each record gets the
    /// parent's key as `parent_key_field` and the parent's replication key value as the child's own
    /// replication key.
    PerParent {
        /// The field naming the parent on each child record.
        parent_key_field: &'static str,
    },
    /// One record per distinct id the parents reference in `parent_field` (`path` has `{id}`).
    Referenced {
        /// The parent's field holding the referenced id.
        parent_field: &'static str,
    },
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
    /// The list endpoint's path.
    pub path: &'static str,
    /// JSON pointer to the array of records in a list response.
    pub records_at: &'static str,
    /// The query parameter carrying the page size (`None` when the endpoint does not page).
    pub page_size_param: Option<&'static str>,
    /// How the list endpoint pages.
    pub pagination: Pagination,
    /// The list order with respect to the replication key.
    pub order: Order,
    /// Fields the list may omit that `GET {path_of_one}` returns; empty when the list is complete.
    pub completed_by_detail: &'static [&'static str],
    /// The single-record endpoint, with `{id}` for the key (used to complete records).
    pub detail_path: &'static str,
    /// For a child stream: its parent stream and how it is read from it.
    pub parent: Option<(&'static str, Child)>,
}

/// Every stream the tap knows, in sync order.
pub static STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "accounts",
        columns: include_str!("../schemas/columns/accounts.txt"),
        key: "accountId",
        replication_key: Some("updateDateTime"),
        path: "/accounts",
        records_at: "/data/accounts",
        page_size_param: Some("size"),
        pagination: Pagination::IndexSize,
        order: Order::Unordered,
        completed_by_detail: &[],
        detail_path: "/accounts/{id}",
        parent: None,
    },
    StreamDef {
        name: "conversations",
        columns: include_str!("../schemas/columns/conversations.txt"),
        key: "id",
        replication_key: Some("updatedAt"),
        path: "/conversations/list",
        records_at: "/data",
        page_size_param: Some("limit"),
        pagination: Pagination::Cursor,
        order: Order::Descending,
        completed_by_detail: &["participants", "conversationTags", "relatedPlaybookId"],
        detail_path: "/conversations/{id}",
        parent: None,
    },
    StreamDef {
        name: "users",
        columns: include_str!("../schemas/columns/users.txt"),
        key: "id",
        replication_key: Some("updatedAt"),
        path: "/users/list",
        records_at: "/data",
        page_size_param: None,
        pagination: Pagination::None,
        order: Order::Unordered,
        completed_by_detail: &[],
        detail_path: "/users/{id}",
        parent: None,
    },
    StreamDef {
        name: "messages",
        columns: include_str!("../schemas/columns/messages.txt"),
        key: "id",
        replication_key: Some("conversationUpdatedAt"),
        path: "/conversations/{id}/messages",
        records_at: "/data/messages",
        page_size_param: Some("limit"),
        pagination: Pagination::Cursor,
        order: Order::Unordered,
        completed_by_detail: &[],
        detail_path: "",
        parent: Some((
            "conversations",
            Child::PerParent {
                parent_key_field: "conversationId",
            },
        )),
    },
    StreamDef {
        name: "contacts",
        columns: include_str!("../schemas/columns/contacts.txt"),
        key: "id",
        replication_key: None,
        path: "/contacts/{id}",
        records_at: "/data",
        page_size_param: None,
        pagination: Pagination::None,
        order: Order::Unordered,
        completed_by_detail: &[],
        detail_path: "",
        parent: Some((
            "conversations",
            Child::Referenced {
                parent_field: "contactId",
            },
        )),
    },
];

/// The child streams of a stream.
pub fn children(parent: &str) -> impl Iterator<Item = &'static StreamDef> + '_ {
    STREAMS
        .iter()
        .filter(move |s| s.parent.is_some_and(|(p, _)| p == parent))
}

/// Looks a stream up by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}
