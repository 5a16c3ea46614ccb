//! The switches for what nobody knows about the real Drift API: each plausible behaviour the tap
//! must survive is one field of [`Variants`], off by default, so a test can play it. The world
//! (`world.rs`), the routes (`routes.rs`) and the report (`reports.rs`) read them; this file only
//! names them and holds the pure position arithmetic of a loosely ordered list.

use serde_json::{json, Value};

/// How the emulated Drift behaves where the real API's behaviour is unknown (all off: the
/// behaviour the tap's authors first believed in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variants {
    /// Conversations page the newer way (`links.next` with a `page_token`, `limit` up to 100)
    /// instead of `pagination.next` (`limit` up to 50).
    pub links_style: bool,
    /// The conversation list is not strictly newest-first: every tenth pair of neighbours is
    /// swapped, and the first conversation changed after a read is missing from the next read (a
    /// lagging search index), appearing only on the read after.
    pub loose_order: bool,
    /// Accounts' `size` is silently clamped at this many, while `next` is built from the size asked
    /// for (so records are skipped).
    pub accounts_size_cap: Option<u32>,
    /// The accounts list's `total` counts this many more accounts than it ever lists (as an API
    /// that counts records it will not show would).
    pub accounts_total_extra: Option<u32>,
    /// Messages come in fixed pages of this many, whatever `limit` says.
    pub messages_page: Option<u32>,
    /// A list whose records end exactly at a page boundary says there is more, and its last page
    /// carries no records array at all.
    pub last_page_without_array: bool,
    /// Records lack `status` (conversations) and `orgId` (every stream that has it).
    pub sparse_records: bool,
    /// Records carry fields the tap's column tables do not know.
    pub unknown_fields: bool,
    /// Every error body is `{"error": {"type", "message"}}` (else only 401s are; the rest are
    /// `{"errors": [...]}`).
    pub error_object_bodies: bool,
    /// The collections the account lacks (a feature Drift enables per account, such as
    /// conversational landing pages), by stream name: their one-call list answers 404, and they
    /// have no records.
    pub absent: Vec<&'static str>,
    /// `GET /users/meetings/org` serves at most this many meetings (the first by `slotStart`)
    /// instead of Drift's 1000 (a lower cap only: more than 1000 is still 1000).
    pub meetings_page_cap: Option<u32>,
    /// `POST /reports/conversations` serves at most this many rows, while its `count` still says
    /// how many matched.
    pub report_row_cap: Option<u32>,
    /// The report writes a metric without a value as a bare `NaN` token (not JSON) instead of the
    /// string `"NaN"`.
    pub bare_nan: bool,
    /// `pagination.next` (conversations in the older style, messages) is a JSON integer, as
    /// Drift's older list page types it, instead of a string.
    pub numeric_cursors: bool,
    /// The report's `count` says this many more than it matched, whatever the window (as Drift's
    /// own example answers `"count": 48` with one row): a count that exceeds the rows at every
    /// span, however small.
    pub report_count_excess: Option<u64>,
    /// A meeting's `slug` names the booking page it was booked through (the user's, shared by
    /// all their meetings) rather than the meeting, as third parties' `meetingSlug` and
    /// `isOrgSlug` fields suggest, though Drift's model calls it the "Meeting ID".
    pub shared_meeting_slugs: bool,
}

impl Variants {
    /// Every switch on at once (the accounts cap at 40, messages in pages of 50, report rows capped
    /// at 25, numeric cursors where a cursor is not a link, slugs shared by a user's meetings),
    /// except absent collections, the accounts' overcounted total (it makes a run fail, as it
    /// should), the meetings cap (Drift documents its 1000 a request; a test with more meetings
    /// than that makes the tap split) and the report's excess count (beside capped rows, a count
    /// that never matches hides which rows are held back: no reader can get them all), which stay
    /// off.
    pub fn all() -> Variants {
        Variants {
            links_style: true,
            loose_order: true,
            accounts_size_cap: Some(40),
            accounts_total_extra: None,
            messages_page: Some(50),
            last_page_without_array: true,
            sparse_records: true,
            unknown_fields: true,
            error_object_bodies: true,
            absent: Vec::new(),
            meetings_page_cap: None,
            report_row_cap: Some(25),
            bare_nan: true,
            numeric_cursors: true,
            report_count_excess: None,
            shared_meeting_slugs: true,
        }
    }

    /// Applies the record-level switches to a record of `stream`.
    pub fn shape(&self, stream: &str, record: &mut Value) {
        if self.shared_meeting_slugs && stream == "meetings" {
            let page = match record.get("agentId") {
                Some(agent) => format!("agent-{agent}/30min"),
                None => "org/30min".to_string(),
            };
            record["slug"] = json!(page);
        }
        if self.sparse_records {
            if let Some(r) = record.as_object_mut() {
                r.remove("orgId");
                if stream == "conversations" {
                    r.remove("status");
                }
            }
        }
        if self.unknown_fields {
            let (field, value) = match stream {
                "conversations" => ("priority", json!("high")),
                "users" => ("teamIds", json!([17, 23])),
                "accounts" => ("segment", json!("enterprise")),
                "messages" => ("reactions", json!([{"emoji": "👍", "count": 2}])),
                _ => ("externalId", json!("ext-1")),
            };
            record[field] = value;
        }
    }
}

/// A `pagination.next` cursor as the switch says: the decimal token as a string, or as a number.
pub fn cursor_value(token: String, numeric: bool) -> Value {
    match token.parse::<u64>() {
        Ok(n) if numeric => json!(n),
        _ => json!(token),
    }
}

/// The position a loosely ordered list serves at `position`: every tenth pair of neighbours
/// (positions 3 and 4, 13 and 14, …) is swapped, within a list of `len`.
pub fn swapped(position: u32, len: u32) -> u32 {
    match position % 10 {
        3 if position + 1 < len => position + 1,
        4 => position - 1,
        _ => position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapping_is_a_permutation() {
        for len in 0..25 {
            let mut seen: Vec<u32> = (0..len).map(|p| swapped(p, len)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "len {len}");
        }
        assert_eq!(swapped(3, 10), 4);
        assert_eq!(swapped(3, 4), 3);
    }
}
