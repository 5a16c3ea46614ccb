//! More of the emulator's dataset: playbooks, their conversational landing pages, teams and
//! meetings, each computed from (seed, index) on demand like `data.rs`' records (which this file
//! extends and must not redefine). Epoch-millisecond timestamps, fields omitted (not null) when
//! unset. Meetings lie on a grid of fixed times, each made from its place on the grid, so every
//! world of a dataset has the same meetings whenever it starts; the caller passes in its "now",
//! which picks the stretch of the grid it serves. This file reads no clock and knows nothing of
//! HTTP or of the world's overlay.

use serde_json::{json, Map, Value};

use crate::data::{Dataset, EPOCH_END_MS, EPOCH_START_MS, ORG_ID};
use crate::rng::Rng;

const DAY_MS: i64 = 86_400_000;
/// A world's meetings start this long before its "now"...
pub const MEETINGS_FROM_MS: i64 = 45 * DAY_MS;
/// ... and are spread over this long.
pub const MEETINGS_SPAN_MS: i64 = 60 * DAY_MS;
/// Within each ten meetings of the grid, how far each one is from the first of its slot: slots of
/// one, two, three and four meetings (two reps booked for the same hour, and more).
const SHARED_SLOT: [i64; 10] = [0, 0, 1, 0, 1, 2, 0, 1, 2, 3];
/// Drift serves only meetings whose slot starts at most this long before now.
pub const MEETINGS_HORIZON_MS: i64 = 30 * DAY_MS;
/// A meeting's slot lasts this long.
const SLOT_MS: i64 = 30 * 60_000;

const PLAYBOOK_NAMES: &[&str] = &[
    "Welcome – Homepage",
    "Pricing page concierge 💬",
    "Démo booking",
    "Retargeting: 料金",
    "Chat to sales",
    "Webinar follow-up",
    "ABM – Tier 1 accounts",
    "Support deflection",
];
const REPORT_TYPES: &[&str] = &[
    "BOOK_MORE_MEETINGS",
    "GENERATE_LEADS",
    "ANSWER_QUESTIONS",
    "ACCOUNT_BASED_MARKETING",
];
const GOALS: &[&str] = &[
    "Book a meeting",
    "Capture an email",
    "Qualify the lead ✅",
    "Route to sales",
];
const TEAM_NAMES: &[&str] = &[
    "Sales – EMEA",
    "Support 🛟",
    "Customer Success",
    "Ventes France",
    "営業チーム",
];
const MEETING_SOURCES: &[&str] = &["CHAT", "EMAIL_DROP", "CALENDAR_DROP", "BOOKING_LINK"];
const MEETING_TYPES: &[&str] = &["Intro call", "Démo 30 min", "Discovery", "Renewal review"];
const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Pacific/Auckland",
];

/// A UUID-shaped string (8-4-4-4-12 hex digits) drawn from `r`.
fn uuid(r: &mut Rng) -> String {
    let (a, b) = (r.next(), r.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

impl Dataset {
    /// Id of the i-th playbook.
    pub fn playbook_id(&self, i: u32) -> i64 {
        700_000 + i64::from(i)
    }

    /// The index of a playbook id (the inverse of [`Dataset::playbook_id`]).
    pub fn playbook_index(&self, key: &str) -> Option<u32> {
        let i = u32::try_from(key.parse::<i64>().ok()?.checked_sub(700_000)?).ok()?;
        (self.playbook_id(i).to_string() == key).then_some(i)
    }

    /// A user id drawn from `r`, or `None` when the account has no users.
    fn some_user(&self, r: &mut Rng) -> Option<i64> {
        (self.users > 0).then(|| self.user_id(r.below(u64::from(self.users)) as u32))
    }

    /// The i-th playbook (GET /playbooks/list).
    pub fn playbook(&self, i: u32) -> Value {
        let mut r = Rng::new(self.seed, 10, i);
        let created = r.between(EPOCH_START_MS, EPOCH_END_MS - 60 * DAY_MS);
        let updated = r.between(created, EPOCH_END_MS);
        let name = format!("{} #{i}", r.pick(PLAYBOOK_NAMES));
        let mut p = Map::new();
        p.insert("id".into(), json!(self.playbook_id(i)));
        p.insert("name".into(), json!(name));
        p.insert("orgId".into(), json!(ORG_ID));
        p.insert("meta".into(), json!({}));
        p.insert("createdAt".into(), json!(created));
        p.insert("updatedAt".into(), json!(updated));
        if let Some(author) = self.some_user(&mut r) {
            p.insert("createdAuthorId".into(), json!(author));
        }
        if let Some(author) = self.some_user(&mut r) {
            p.insert("updatedAuthorId".into(), json!(author));
        }
        p.insert("interactionId".into(), json!(1_500_000 + i64::from(i) * 11));
        p.insert("reportType".into(), json!(r.pick(REPORT_TYPES)));
        let goals: Vec<Value> = (0..r.below(3))
            .map(|_| {
                let id = uuid(&mut r);
                let message = r.pick(GOALS);
                let first = message.split_whitespace().next().unwrap_or("Goal");
                json!({"id": id, "message": message, "name": format!("{first} goal")})
            })
            .collect();
        p.insert("goals".into(), json!(goals));
        Value::Object(p)
    }

    /// The conversational landing page of a playbook (`playbook` as listed), if the i-th playbook
    /// has one: every 4th does (GET /playbooks/clp).
    pub fn landing_page(&self, playbook: &Value, i: u32) -> Option<Value> {
        (i % 4 == 0).then(|| {
            json!({
                "playbookId": playbook["id"],
                "playbookName": playbook["name"],
                "landingPageUrl": format!("https://drift.me/org{ORG_ID}/lp/{}", self.playbook_id(i)),
            })
        })
    }

    /// Id of the i-th team.
    pub fn team_id(&self, i: u32) -> i64 {
        91_000 + i64::from(i) * 7
    }

    /// The index of a team id (the inverse of [`Dataset::team_id`]).
    pub fn team_index(&self, key: &str) -> Option<u32> {
        let offset = key.parse::<i64>().ok()?.checked_sub(91_000)?;
        let i = u32::try_from(offset / 7).ok()?;
        (offset % 7 == 0 && self.team_id(i).to_string() == key).then_some(i)
    }

    /// The i-th team (GET /teams/org); the first is the main one. Optional booleans are omitted on
    /// some teams.
    pub fn team(&self, i: u32) -> Value {
        let mut r = Rng::new(self.seed, 11, i);
        let humans = self.users.saturating_sub(2).max(1);
        let size = if self.users == 0 { 0 } else { 1 + r.below(5) };
        let mut members: Vec<i64> = (0..size)
            .map(|_| self.user_id(r.below(u64::from(humans)) as u32))
            .collect();
        members.sort_unstable();
        members.dedup();
        let mut t = Map::new();
        t.insert("id".into(), json!(self.team_id(i)));
        t.insert("orgId".into(), json!(ORG_ID));
        t.insert(
            "workspaceId".into(),
            json!(uuid(&mut Rng::new(self.seed, 12, 0))),
        );
        let name = TEAM_NAMES[i as usize % TEAM_NAMES.len()];
        t.insert("name".into(), json!(format!("{name} {i}")));
        t.insert(
            "updatedAt".into(),
            json!(r.between(EPOCH_START_MS, EPOCH_END_MS)),
        );
        if let Some(owner) = members.first() {
            t.insert("owner".into(), json!(owner));
        }
        t.insert("members".into(), json!(members));
        let archived = i % 5 == 4;
        t.insert(
            "status".into(),
            json!(if archived { "ARCHIVED" } else { "ENABLED" }),
        );
        t.insert("main".into(), json!(i == 0));
        if i % 3 != 2 {
            t.insert("autoOffline".into(), json!(r.chance(50)));
        }
        t.insert(
            "teamAvailabilityMode".into(),
            json!(r.pick(&["ALWAYS_ONLINE", "ALWAYS_OFFLINE", "CUSTOM_HOURS"])),
        );
        if i % 4 != 1 {
            t.insert("responseTimerEnabled".into(), json!(r.chance(50)));
        }
        Value::Object(t)
    }

    /// The time between two places of the meeting grid.
    fn meeting_step(&self) -> i64 {
        (MEETINGS_SPAN_MS / i64::from(self.meetings.max(1))).max(1)
    }

    /// The place on the grid of a world's i-th meeting: the world whose "now" is `now_ms` holds the
    /// meetings of the grid from 45 days before it (so a later world holds the same meetings, moved
    /// along the grid by the time between the two).
    pub fn meeting_place(&self, i: u32, now_ms: i64) -> i64 {
        let step = self.meeting_step();
        (now_ms - MEETINGS_FROM_MS).div_euclid(step) + 1 + i64::from(i)
    }

    /// When the meeting at grid place `g` starts: with the first meeting of its slot (see
    /// [`SHARED_SLOT`]).
    pub fn meeting_start(&self, g: i64) -> i64 {
        (g - SHARED_SLOT[g.rem_euclid(10) as usize]) * self.meeting_step()
    }

    /// The world index of a meeting by its `slug` (the inverse of the slug [`Dataset::meeting`]
    /// gives).
    pub fn meeting_index(&self, slug: &str, now_ms: i64) -> Option<u32> {
        let g: i64 = slug
            .strip_prefix(&format!("mtg-{}-", self.seed))?
            .parse()
            .ok()?;
        let i = u32::try_from(g - self.meeting_place(0, now_ms)).ok()?;
        (format!("mtg-{}-{g}", self.seed) == slug).then_some(i)
    }

    /// The i-th meeting (GET /users/meetings/org) of the world whose "now" is `now_ms`: the one
    /// at its place on the grid, the same in every world. Its `updatedAt` is never after
    /// [`EPOCH_END_MS`] (changes stay newer than the dataset), `scheduledAt` never after its
    /// `updatedAt` nor its slot; every 10th lacks an `eventId`; the meetings that share a slot
    /// are with different users (while there are enough); its `slug`, which Drift calls the
    /// "Meeting ID", is its own.
    pub fn meeting(&self, i: u32, now_ms: i64) -> Value {
        let g = self.meeting_place(i, now_ms);
        // the grid place as the random source's index (wrapping: only the draws depend on it)
        let mut r = Rng::new(self.seed, 13, g as u32);
        let start = self.meeting_start(g);
        let booked = start - r.between(3_600_000, 14 * DAY_MS);
        let updated = r.between(booked, start).min(now_ms).min(EPOCH_END_MS);
        let mut m = Map::new();
        if self.users > 0 {
            // the first meeting of the slot draws a user, the others take the users after it
            let first = g - SHARED_SLOT[g.rem_euclid(10) as usize];
            let drawn = Rng::new(self.seed, 14, first as u32).below(u64::from(self.users));
            let agent = (drawn + (g - first) as u64) % u64::from(self.users);
            m.insert("agentId".into(), json!(self.user_id(agent as u32)));
        }
        m.insert("orgId".into(), json!(ORG_ID));
        let status = if r.chance(15) { "CANCELLED" } else { "ACTIVE" };
        m.insert("status".into(), json!(status));
        m.insert("meetingSource".into(), json!(r.pick(MEETING_SOURCES)));
        let mut contact = r.below(u64::from(self.conversations / 2 + 1)) as i64;
        if contact % 23 == 5 {
            // contacts 5, 28, … do not exist (see `Dataset::contact`)
            contact -= 1;
        }
        m.insert("schedulerId".into(), json!(9_100_000_000 + contact));
        if g.rem_euclid(10) != 9 {
            m.insert("eventId".into(), json!(format!("evt-{}-{g}", self.seed)));
        }
        m.insert("slug".into(), json!(format!("mtg-{}-{g}", self.seed)));
        m.insert("slotStart".into(), json!(start));
        m.insert("slotEnd".into(), json!(start + SLOT_MS));
        m.insert("updatedAt".into(), json!(updated));
        m.insert("scheduledAt".into(), json!(booked.min(updated)));
        m.insert("meetingType".into(), json!(r.pick(MEETING_TYPES)));
        if self.conversations > 0 && r.chance(85) {
            let c = r.below(u64::from(self.conversations)) as u32;
            m.insert("conversationId".into(), json!(self.conversation_id(c)));
        }
        m.insert("endUserTimeZone".into(), json!(r.pick(ZONES)));
        if r.chance(40) {
            m.insert(
                "meetingNotes".into(),
                json!("Wants a démo of the API – bring pricing 📈"),
            );
        }
        if let Some(booker) = self.some_user(&mut r) {
            m.insert("bookedBy".into(), json!(booker));
        }
        conference(&mut m, &mut r, g);
        Value::Object(m)
    }
}

/// The fields real meetings carry that Drift's model page does not list (third parties show
/// them): the conference, recurrence, privacy, and the booking page it came through.
fn conference(m: &mut Map<String, Value>, r: &mut Rng, g: i64) {
    let kind = r.pick(&["ZOOM", "GOOGLE_MEET", "MICROSOFT_TEAMS", "PHONE"]);
    m.insert("conferenceType".into(), json!(kind));
    m.insert("isRecurring".into(), json!(r.chance(10)));
    m.insert("isPrivate".into(), json!(r.chance(20)));
    if kind != "PHONE" {
        let url = format!("https://meet.example.com/{}", 7_000_000 + g);
        m.insert(
            "conferenceDetails".into(),
            json!({"url": url, "dialIn": "+1 555 0100"}),
        );
    }
    let org = r.chance(25);
    let page = match (org, m.get("agentId")) {
        (false, Some(agent)) => format!("agent-{agent}/30min"),
        _ => "org/demo".to_string(),
    };
    m.insert("meetingSlug".into(), json!(page));
    m.insert("isOrgSlug".into(), json!(org || !m.contains_key("agentId")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playbook_ids_and_keys() {
        let d = Dataset::sandbox();
        assert_eq!(d.playbook(0)["id"], json!(700_000));
        assert_eq!(d.playbook(39)["id"], json!(700_039));
        assert_eq!(d.playbook_index("700017"), Some(17));
        assert_eq!(d.playbook_index("699999"), None);
        assert_eq!(d.playbook_index("0700017"), None);
        assert_eq!(d.team_index(&d.team_id(3).to_string()), Some(3));
        assert_eq!(d.team_index("91001"), None);
        let p = d.playbook(4);
        assert_eq!(d.landing_page(&p, 4).unwrap()["playbookId"], json!(700_004));
        assert_eq!(d.landing_page(&d.playbook(5), 5), None);
        let u = uuid(&mut Rng::new(1, 2, 3));
        assert_eq!(u.len(), 36, "{u}");
        assert_eq!(
            u.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }

    #[test]
    fn meetings_lie_on_a_grid_and_share_slots() {
        let d = Dataset::sandbox();
        let now = 1_800_000_000_000;
        let step = DAY_MS; // 60 meetings over 60 days
        let m = d.meeting(0, now);
        let start = m["slotStart"].as_i64().unwrap();
        assert!(
            now - MEETINGS_FROM_MS - 4 * step < start && start <= now - MEETINGS_FROM_MS + step
        );
        assert_eq!(
            m["slotEnd"].as_i64().unwrap() - m["slotStart"].as_i64().unwrap(),
            SLOT_MS
        );
        assert!(m["updatedAt"].as_i64().unwrap() <= EPOCH_END_MS);
        let all: Vec<Value> = (0..60).map(|i| d.meeting(i, now)).collect();
        // slots of one to four meetings, each with another user
        let mut slots: std::collections::BTreeMap<i64, Vec<&Value>> = Default::default();
        for m in &all {
            slots
                .entry(m["slotStart"].as_i64().unwrap())
                .or_default()
                .push(m);
        }
        assert!(slots.len() < 30, "{} slots for 60 meetings", slots.len());
        assert!(slots.values().any(|s| s.len() == 4));
        for shared in slots.values() {
            let agents: std::collections::BTreeSet<String> =
                shared.iter().map(|m| m["agentId"].to_string()).collect();
            assert_eq!(agents.len(), shared.len(), "{shared:?}");
        }
        assert_eq!(all.iter().filter(|m| m.get("eventId").is_none()).count(), 6);
        // slugs are the meetings' own, and lead back to them
        for (i, m) in all.iter().enumerate() {
            let slug = m["slug"].as_str().unwrap();
            assert_eq!(d.meeting_index(slug, now), Some(i as u32));
        }
        assert_eq!(d.meeting_index("mtg-7-x", now), None);
        assert_eq!(d.meeting_index("mtg-8-1", now), None);
    }

    #[test]
    fn a_later_world_holds_the_same_meetings_moved_along_the_grid() {
        let d = Dataset::sandbox();
        let now = 1_800_000_000_000;
        for later in [now + 1, now + 3_600_000, now + 3 * DAY_MS + 17] {
            let moved = (d.meeting_place(0, later) - d.meeting_place(0, now)) as u32;
            for i in moved..60 {
                assert_eq!(d.meeting(i, now), d.meeting(i - moved, later), "{later}");
            }
        }
    }
}
