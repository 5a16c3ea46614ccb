//! The emulated endpoints: Drift's paths, query parameters, envelopes and cursors, serving the
//! world's records with the switches of [`crate::Variants`] applied. One handler serves every
//! one-call list (from its collection's entry in `world.rs`), one each the other endpoints;
//! tokens, faults and the request log are the middleware's (`auth.rs`), the conversation report
//! is `reports.rs`'.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::collections::{Answer, Spec};
use crate::variants::cursor_value;
use crate::world::World;
use crate::{collection, cursor_loop, lock, messages_loop, misdirected, Shared};

/// An error response in Drift's shapes: `{"error": {...}}` for 401 (or always, with the
/// `error_object_bodies` switch), else `{"errors": [...]}`.
pub fn error(s: &Shared, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED || s.options.variants.error_object_bodies {
        json!({"error": {"type": kind, "message": message}})
    } else {
        json!({"errors": [{"type": kind, "message": message}]})
    };
    (status, Json(body)).into_response()
}

/// The 404 of an unknown path.
pub async fn not_found(State(s): State<Arc<Shared>>) -> Response {
    error(&s, StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn world(s: &Shared) -> std::sync::MutexGuard<'_, World> {
    lock(&s.world)
}

/// A one-call list (a collection answering [`Answer::Data`] or [`Answer::Bare`]): every record,
/// in list order; 404 when the account lacks the collection (the `absent` switch).
pub fn whole_list(s: &Shared, spec: &Spec) -> Response {
    if s.options.variants.absent.contains(&spec.name) {
        let message = format!("{} is not enabled for this account", spec.path);
        return error(s, StatusCode::NOT_FOUND, "not_found", &message);
    }
    let mut w = world(s);
    let read = w.begin_read(spec);
    let all = w.served(spec, read);
    match spec.answer {
        Answer::Bare => Json(all).into_response(),
        Answer::Data | Answer::Own => Json(json!({"data": all})).into_response(),
    }
}

/// The record a request for the record numbered `n` of `stream` is answered with, when the
/// `misdirect_every` fault answers it with another: the next one that exists (a conversation by
/// generation index, a contact by its number).
pub fn misdirect(options: &crate::Options, w: &World, stream: &str, n: u32) -> Option<u32> {
    if !misdirected(options, i64::from(n)) {
        return None;
    }
    let exists = |m: u32| match stream {
        "contacts" => w.dataset().contact(CONTACT_BASE + i64::from(m)).is_some(),
        other => w.live(collection(other)).any(|i| i == m),
    };
    (n + 1..n + 50).find(|m| exists(*m))
}

/// Contacts' ids are this plus their number.
pub const CONTACT_BASE: i64 = 9_100_000_000;

fn one(s: &Shared, spec: &Spec, key: &str, what: &str) -> Response {
    let w = world(s);
    let served = w
        .index_of(spec, key)
        .map(|i| misdirect(&s.options, &w, spec.name, i).unwrap_or(i));
    match served {
        Some(i) => Json(json!({"data": w.record(spec, i, true)})).into_response(),
        None => error(
            s,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{what} not found"),
        ),
    }
}

/// `GET /users/{id}`.
pub async fn user_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("users"), &id, "user")
}

/// `GET /accounts/{id}`.
pub async fn account_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("accounts"), &id, "account")
}

/// `GET /conversations/{id}`.
pub async fn conversation_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("conversations"), &id, "conversation")
}

/// `GET /contacts/attributes`: the account's contact attributes with their types.
pub async fn contact_attributes(State(_): State<Arc<Shared>>) -> Response {
    let properties: Vec<Value> = crate::data::CONTACT_ATTRIBUTES
        .iter()
        .map(|(name, ty, shown)| json!({"type": ty, "displayName": shown, "name": name}))
        .collect();
    Json(json!({"data": {"properties": properties}})).into_response()
}

/// `GET /contacts/{id}`.
pub async fn contact_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let contact = id.parse::<i64>().ok().and_then(|id| {
        let w = world(&s);
        w.dataset().contact(id)?;
        let n = u32::try_from(id - CONTACT_BASE).ok()?;
        let served =
            misdirect(&s.options, &w, "contacts", n).map_or(id, |m| CONTACT_BASE + i64::from(m));
        let mut c = w.dataset().contact(served)?;
        w.variants().shape("contacts", &mut c);
        Some(c)
    });
    match contact {
        Some(c) => Json(json!({"data": c})).into_response(),
        None => error(&s, StatusCode::NOT_FOUND, "not_found", "contact not found"),
    }
}

/// The query of `GET /accounts`.
#[derive(Deserialize)]
pub struct AccountsQuery {
    index: Option<u32>,
    size: Option<u32>,
}

/// `GET /accounts?index=&size=`: `size` defaults to 10; `next` is a URL with the next index.
pub async fn accounts_list(
    State(s): State<Arc<Shared>>,
    Query(q): Query<AccountsQuery>,
) -> Response {
    let mut w = world(&s);
    let accounts = collection("accounts");
    let index = q.index.unwrap_or(0);
    let read = if index == 0 {
        w.begin_read(accounts)
    } else {
        0
    };
    let total = w.listed(accounts, read);
    let asked = q.size.unwrap_or(10).clamp(1, 100);
    // the size served; with the clamp switch, `next` still steps by the size asked for
    let (served, step) = match s.options.variants.accounts_size_cap {
        Some(cap) => (asked.min(cap), asked),
        None => (asked, asked),
    };
    let end = index.saturating_add(served).min(total);
    let page: Vec<Value> = (index.min(end)..end)
        .map(|p| w.record(accounts, w.list_index(accounts, p, read), true))
        .collect();
    let next = index.saturating_add(step);
    let v = &s.options.variants;
    // with the switch, a list ending exactly at a page boundary says there is more
    let full_last = !page.is_empty() && end == total && end - index == served;
    let more = next < total || (v.last_page_without_array && full_last);
    let counted = total.saturating_add(v.accounts_total_extra.unwrap_or(0));
    let mut data = json!({"total": counted});
    if !(page.is_empty() && v.last_page_without_array) {
        data["accounts"] = json!(page);
    }
    if more {
        data["next"] = json!(format!("{}/accounts?index={next}&size={asked}", s.base_url));
    }
    Json(json!({"data": data})).into_response()
}

/// The query of the cursor-paged lists.
#[derive(Deserialize)]
pub struct CursorQuery {
    limit: Option<u32>,
    next: Option<String>,
    page_token: Option<String>,
}

/// Cursor tokens are opaque decimal strings encoding a read and a position in the list.
const CURSOR_OFFSET: u64 = 100_000_000;

fn cursor(read: u64, position: u32) -> String {
    ((read << 32 | u64::from(position)) + CURSOR_OFFSET).to_string()
}

impl CursorQuery {
    /// The read and position asked for; `None` for a bad cursor.
    fn at(&self) -> Option<Option<(u64, u32)>> {
        match self.next.as_deref().or(self.page_token.as_deref()) {
            None => Some(None),
            Some(token) => {
                let v = token.parse::<u64>().ok()?.checked_sub(CURSOR_OFFSET)?;
                Some(Some((v >> 32, u32::try_from(v & 0xFFFF_FFFF).ok()?)))
            }
        }
    }
}

fn bad_cursor(s: &Shared) -> Response {
    error(
        s,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "invalid pagination token",
    )
}

/// One page of a cursor list: (first position, end, whether more follow) of a list of `total`
/// from `position` with `limit` records a page.
fn window(position: u32, limit: u32, total: u32, empty_last: bool) -> (u32, u32, bool) {
    let end = position.saturating_add(limit).min(total);
    // with the switch, a list ending exactly at a page boundary says there is more
    let more =
        end < total || (empty_last && end == total && end > position && end - position == limit);
    (position.min(end), end, more)
}

/// `GET /conversations/list`: newest updated first; `pagination.next` (limit ≤ 50; a number with
/// the `numeric_cursors` switch) or, with the `links_style` switch, `links.next` with a
/// `page_token` (limit ≤ 100).
pub async fn conversations_list(
    State(s): State<Arc<Shared>>,
    Query(q): Query<CursorQuery>,
) -> Response {
    let v = &s.options.variants;
    let Some(at) = q.at() else {
        return bad_cursor(&s);
    };
    let mut w = world(&s);
    let conversations = collection("conversations");
    let (read, position) = match at {
        // a list going round in circles answers its first page again, with a fresh cursor
        Some((read, _)) if cursor_loop(&s.options) => (read + 1, 0),
        Some(at) => at,
        None => (w.begin_read(conversations), 0),
    };
    let total = w.listed(conversations, read);
    if position > total {
        return bad_cursor(&s);
    }
    let max = if v.links_style { 100 } else { 50 };
    let limit = q.limit.unwrap_or(25).clamp(1, max);
    let (start, end, more) = window(position, limit, total, v.last_page_without_array);
    let items: Vec<Value> = (start..end)
        .map(|p| w.record(conversations, w.list_index(conversations, p, read), false))
        .collect();
    let mut body = json!({});
    if !(items.is_empty() && v.last_page_without_array) {
        body["data"] = json!(items);
    }
    if more || (cursor_loop(&s.options) && !items.is_empty()) {
        let token = cursor(read, end);
        if v.links_style {
            body["links"] = json!({
                "self": format!("{}/conversations/list?limit={limit}", s.base_url),
                "next": format!("{}/conversations/list?limit={limit}&page_token={token}", s.base_url),
            });
        } else {
            let next = cursor_value(token, v.numeric_cursors);
            body["pagination"] = json!({"more": true, "next": next});
        }
    }
    Json(body).into_response()
}

/// `GET /conversations/{id}/messages?next=`: oldest first, `limit` honoured (default 25) or, with
/// the switch, fixed pages whatever `limit` says.
pub async fn messages_list(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Response {
    let v = &s.options.variants;
    let Some(at) = q.at() else {
        return bad_cursor(&s);
    };
    let w = world(&s);
    let Some(i) = w.index_of(collection("conversations"), &id) else {
        return error(
            &s,
            StatusCode::NOT_FOUND,
            "not_found",
            "conversation not found",
        );
    };
    let all = w.messages(i);
    let total = all.len() as u32;
    let position = match at {
        Some(_) if messages_loop(&s.options) => 0,
        at => at.map_or(0, |(_, p)| p),
    };
    if position > total {
        return bad_cursor(&s);
    }
    let limit = v
        .messages_page
        .unwrap_or_else(|| q.limit.unwrap_or(25).clamp(1, 100));
    let (start, end, more) = window(position, limit, total, v.last_page_without_array);
    let page = &all[start as usize..end as usize];
    let mut body = json!({});
    if !(page.is_empty() && v.last_page_without_array) {
        body["data"] = json!({"messages": page});
    } else {
        body["data"] = json!({});
    }
    if more || (messages_loop(&s.options) && !page.is_empty()) {
        let fresh = lock(&s.log).len() as u64;
        let next = cursor_value(cursor(fresh, end), v.numeric_cursors);
        body["pagination"] = json!({"more": true, "next": next});
    }
    Json(body).into_response()
}

/// Drift serves at most this many meetings a response.
pub const MEETINGS_PAGE: u32 = 1000;

/// The meetings a window serves: those of [`World::meetings`], at most `cap` (or Drift's 1000, if
/// lower) of them, the first by `slotStart`.
pub fn meetings_page(w: &World, min: i64, max: i64, cap: Option<u32>) -> Vec<Value> {
    let cap = cap.map_or(MEETINGS_PAGE, |c| c.min(MEETINGS_PAGE));
    let mut all = w.meetings(min, max);
    all.truncate(cap as usize);
    all
}

/// `GET /users/meetings/org?min_start_time=&max_start_time=`: both required, epoch ms; meetings
/// whose slot starts in the window and not more than 30 days ago, at most 1000, by `slotStart`.
pub async fn meetings_org(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let bound = |name: &str| q.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(min), Some(max)) = (bound("min_start_time"), bound("max_start_time")) else {
        return error(
            &s,
            StatusCode::BAD_REQUEST,
            "validation_error",
            "min_start_time and max_start_time are required, in epoch milliseconds",
        );
    };
    let cap = s.options.variants.meetings_page_cap;
    let page = meetings_page(&world(&s), min, max, cap);
    Json(json!({"data": page})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meetings_keep_to_the_horizon_and_the_cap() {
        let now = 1_800_000_000_000;
        let data = crate::Dataset {
            seed: 3,
            users: 4,
            conversations: 10,
            meetings: 60,
            ..crate::Dataset::default()
        };
        let mut w = World::new(data, crate::Variants::default(), false, now);
        let starts = |page: &[Value]| -> Vec<i64> {
            page.iter()
                .map(|m| m["slotStart"].as_i64().unwrap())
                .collect()
        };
        // one a day from 45 days ago, in slots of one to four: those older than 30 days are not
        let horizon = now - 30 * 86_400_000;
        let mut expected: Vec<i64> = (0..60)
            .map(|i| w.dataset().meeting(i, now)["slotStart"].as_i64().unwrap())
            .filter(|t| *t >= horizon)
            .collect();
        expected.sort_unstable();
        let all = starts(&meetings_page(&w, 0, i64::MAX, None));
        assert_eq!(all, expected);
        assert!((40..=45).contains(&all.len()), "{}", all.len());
        assert!(all.windows(2).all(|p| p[0] <= p[1]));
        assert!(all.windows(2).any(|p| p[0] == p[1]), "shared slots");
        assert!(*all.last().unwrap() > now, "future meetings are served");
        let capped = starts(&meetings_page(&w, 0, i64::MAX, Some(7)));
        assert_eq!(capped, all[..7]);
        assert_eq!(meetings_page(&w, 0, i64::MAX, Some(5000)).len(), all.len());
        // inclusive window
        let window = starts(&meetings_page(&w, all[3], all[5], None));
        let within: Vec<i64> = all
            .iter()
            .copied()
            .filter(|t| all[3] <= *t && *t <= all[5])
            .collect();
        assert_eq!(window, within);
        assert!(meetings_page(&w, 0, now - 31 * 86_400_000, None).is_empty());
        w.delete(crate::collections::spec("meetings").unwrap(), &[20]);
        assert_eq!(meetings_page(&w, 0, i64::MAX, None).len(), all.len() - 1);
    }

    #[test]
    fn cursors_round_trip() {
        let q = CursorQuery {
            limit: None,
            next: Some(cursor(7, 1234)),
            page_token: None,
        };
        assert_eq!(q.at(), Some(Some((7, 1234))));
        let bad = CursorQuery {
            limit: None,
            next: Some("x".into()),
            page_token: None,
        };
        assert_eq!(bad.at(), None);
        assert_eq!(window(0, 10, 25, false), (0, 10, true));
        assert_eq!(window(20, 10, 25, false), (20, 25, false));
        assert_eq!(window(10, 10, 20, true), (10, 20, true));
        assert_eq!(window(20, 10, 20, true), (20, 20, false));
    }
}
