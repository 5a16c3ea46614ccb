//! The emulator's dataset: every record is computed from (seed, index) on demand, so 100 000
//! conversations cost no memory. Shapes, field names and types follow Drift's API: epoch-millisecond
//! timestamps, fields omitted (not null) when unset, conversations listed newest-updated first.

use serde_json::{json, Map, Value};

use crate::rng::Rng;

/// Size and seed of a generated Drift account: one count per listed collection (a new collection
/// adds its count here, and to [`Dataset::sandbox`]). Tests and benches spread from
/// `..Dataset::default()`, so a new count is 0 in theirs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// Seed of every generated value.
    pub seed: u64,
    /// Number of users (the last two are bots).
    pub users: u32,
    /// Number of accounts (every 17th is deleted).
    pub accounts: u32,
    /// Number of conversations.
    pub conversations: u32,
    /// Number of playbooks (ids `700_000 + i`, the ids conversations' `relatedPlaybookId` uses).
    pub playbooks: u32,
    /// Number of teams.
    pub teams: u32,
    /// Number of meetings, spread over the 60 days from 45 days before the emulator's start.
    pub meetings: u32,
}

/// The Drift organization every record belongs to.
pub const ORG_ID: i64 = 4_213_377;
/// 2019-01-01T00:00:00Z: the oldest timestamp in the dataset.
pub const EPOCH_START_MS: i64 = 1_546_300_800_000;
/// 2026-06-01T00:00:00Z: the newest timestamp in the dataset.
pub const EPOCH_END_MS: i64 = 1_780_272_000_000;

const FIRST: &[&str] = &[
    "Zoë",
    "José",
    "Ольга",
    "李",
    "Søren",
    "Anaïs",
    "Mehmet",
    "Priya",
    "Björk",
    "Nguyễn",
    "Fatima",
    "Åsa",
    "Émile",
    "Chloé",
    "Łukasz",
    "Aoife",
];
const LAST: &[&str] = &[
    "Ångström",
    "Álvarez",
    "Петрова",
    "雷",
    "Kierkegård",
    "Nin",
    "Öztürk",
    "Raghunathan",
    "Guðmundsdóttir",
    "Văn An",
    "Al-Hashimi",
    "Lindqvist",
    "Zola",
    "Dubois",
    "Wałęsa",
    "O'Brien",
];
const COMPANIES: &[&str] = &[
    "Müller GmbH",
    "Café Olé SARL",
    "株式会社サンプル",
    "Nordic Fjord AS",
    "Ñandú Labs",
    "Acme Corp",
    "Żółw Sp. z o.o.",
    "Élan Vital",
    "Smith & Sons",
    "Δέλτα Α.Ε.",
];
const LOCALES: &[&str] = &["en-US", "de-DE", "fr-FR", "ja-JP", "es-ES", "pt-BR"];
const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "Australia/Sydney",
];
/// Tags with their colours as real bodies carry them: hex without `#`.
const TAGS: &[(&str, &str)] = &[
    ("E74C3C", "VIP"),
    ("3498DB", "Résumé 📎"),
    ("2ECC71", "pricing"),
    ("F1C40F", "support – urgent"),
];
const PROPERTY_TYPES: &[&str] = &[
    "STRING",
    "EMAIL",
    "NUMBER",
    "TEAMMEMBER",
    "ENUM",
    "DATE",
    "DATETIME",
    "LATLON",
    "LAT",
    "LON",
    "PHONE",
    "URL",
    "ENUMARRAY",
];

/// The index `i` whose id `first + step * i` is spelled exactly `key`.
fn inverse(key: &str, first: i64, step: i64, id: impl Fn(u32) -> String) -> Option<u32> {
    let offset = key.parse::<i64>().ok()?.checked_sub(first)?;
    let i = u32::try_from(offset / step).ok()?;
    (offset >= 0 && offset % step == 0 && id(i) == key).then_some(i)
}

impl Dataset {
    /// The sandbox's account: small enough to sync in seconds, varied enough to show every shape.
    pub fn sandbox() -> Dataset {
        Dataset {
            seed: 7,
            users: 24,
            accounts: 230,
            conversations: 1_234,
            playbooks: 40,
            teams: 5,
            meetings: 60,
        }
    }

    /// Id of the i-th user.
    pub fn user_id(&self, i: u32) -> i64 {
        1_290_000 + i64::from(i) * 13
    }

    /// The index of a user id (the inverse of [`Dataset::user_id`]).
    pub fn user_index(&self, key: &str) -> Option<u32> {
        inverse(key, 1_290_000, 13, |i| self.user_id(i).to_string())
    }

    /// The i-th user (GET /users/list, /users/{id}).
    pub fn user(&self, i: u32) -> Value {
        let mut r = Rng::new(self.seed, 1, i);
        let bot = i + 2 >= self.users;
        let name = if bot {
            if i + 1 == self.users {
                "Drift Bot".to_string()
            } else {
                "Bülow 🤖 Assistant".to_string()
            }
        } else {
            format!("{} {}", r.pick(FIRST), r.pick(LAST))
        };
        let created = r.between(EPOCH_START_MS, EPOCH_END_MS - 86_400_000 * 30);
        let updated = r.between(created, EPOCH_END_MS);
        let mut u = Map::new();
        u.insert("id".into(), json!(self.user_id(i)));
        u.insert("orgId".into(), json!(ORG_ID));
        u.insert("name".into(), json!(name));
        if r.chance(60) {
            u.insert(
                "alias".into(),
                json!(name.split(' ').next().unwrap_or_default()),
            );
        }
        u.insert("email".into(), json!(format!("user{i}@example.com")));
        if r.chance(50) {
            u.insert(
                "phone".into(),
                json!(format!("+1-555-{:04}", r.below(10_000))),
            );
        }
        u.insert("locale".into(), json!(r.pick(LOCALES)));
        u.insert(
            "availability".into(),
            json!(r.pick(&["AVAILABLE", "OFFLINE", "ON_CALL"])),
        );
        u.insert(
            "role".into(),
            json!(if bot {
                "agent"
            } else {
                r.pick(&["member", "admin", "agent"])
            }),
        );
        if r.chance(80) {
            u.insert("timeZone".into(), json!(r.pick(ZONES)));
        }
        if r.chance(70) {
            u.insert(
                "avatarUrl".into(),
                json!(format!(
                    "https://avatars.example.com/{}.png",
                    self.user_id(i)
                )),
            );
        }
        u.insert("verified".into(), json!(!bot && r.chance(85)));
        u.insert("bot".into(), json!(bot));
        u.insert("createdAt".into(), json!(created));
        u.insert("updatedAt".into(), json!(updated));
        Value::Object(u)
    }

    /// accountId of the i-th account.
    pub fn account_id(&self, i: u32) -> String {
        format!("{}", 80_000_000 + u64::from(i) * 37)
    }

    /// The index of an accountId (the inverse of [`Dataset::account_id`]).
    pub fn account_index(&self, key: &str) -> Option<u32> {
        inverse(key, 80_000_000, 37, |i| self.account_id(i))
    }

    /// The i-th account (GET /accounts, /accounts/{id}).
    pub fn account(&self, i: u32) -> Value {
        let mut r = Rng::new(self.seed, 2, i);
        let created = r.between(EPOCH_START_MS, EPOCH_END_MS - 86_400_000);
        let updated = r.between(created, EPOCH_END_MS);
        let mut a = Map::new();
        if self.users > 0 {
            a.insert(
                "ownerId".into(),
                json!(self.user_id(r.below(u64::from(self.users)) as u32)),
            );
        }
        a.insert("name".into(), json!(format!("{} {}", r.pick(COMPANIES), i)));
        if r.chance(85) {
            a.insert("domain".into(), json!(format!("company{i}.example.com")));
        }
        a.insert("accountId".into(), json!(self.account_id(i)));
        let props: Vec<Value> = (0..r.below(5))
            .map(|_| custom_property(&mut r, self))
            .collect();
        a.insert("customProperties".into(), json!(props));
        a.insert("deleted".into(), json!(i % 17 == 3));
        a.insert("createDateTime".into(), json!(created));
        a.insert("updateDateTime".into(), json!(updated));
        a.insert("targeted".into(), json!(r.chance(30)));
        Value::Object(a)
    }

    /// Id of the i-th conversation (i = 0 is the least recently updated).
    pub fn conversation_id(&self, i: u32) -> i64 {
        3_000_000_000 + i64::from(i) * 3
    }

    /// The index of a conversation id (the inverse of [`Dataset::conversation_id`]).
    pub fn conversation_index(&self, key: &str) -> Option<u32> {
        inverse(key, 3_000_000_000, 3, |i| {
            self.conversation_id(i).to_string()
        })
    }

    /// The i-th conversation: `full` as GET /conversations/{id} returns it, else the list's summary
    /// (without participants, conversationTags and relatedPlaybookId). updatedAt grows with i.
    pub fn conversation(&self, i: u32, full: bool) -> Value {
        let mut r = Rng::new(self.seed, 3, i);
        let slot = (EPOCH_END_MS - EPOCH_START_MS) / i64::from(self.conversations.max(1));
        let updated = EPOCH_START_MS + i64::from(i) * slot + r.below(slot.max(1) as u64) as i64;
        let created =
            (updated - r.below(30 * 86_400_000) as i64).max(EPOCH_START_MS - 30 * 86_400_000);
        let mut c = Map::new();
        c.insert("id".into(), json!(self.conversation_id(i)));
        c.insert(
            "status".into(),
            json!(r.pick(&["closed", "closed", "closed", "open", "pending", "bulk_sent"])),
        );
        c.insert(
            "contactId".into(),
            json!(9_100_000_000i64 + r.below(u64::from(self.conversations / 2 + 1)) as i64),
        );
        c.insert("createdAt".into(), json!(created));
        c.insert("updatedAt".into(), json!(updated));
        // real conversation bodies carry no orgId (none of seven seen does)
        c.insert("inboxId".into(), json!(55_000 + r.below(4) as i64));
        if full {
            let humans = self.users.saturating_sub(2).max(1);
            let participants: Vec<i64> = (0..r.below(4))
                .map(|_| self.user_id(r.below(u64::from(humans)) as u32))
                .collect();
            c.insert("participants".into(), json!(participants));
            let tags: Vec<Value> = (0..r.below(3))
                .map(|_| {
                    let (color, name) = TAGS[r.below(TAGS.len() as u64) as usize];
                    json!({"color": color, "name": name})
                })
                .collect();
            c.insert("conversationTags".into(), json!(tags));
            if r.chance(60) {
                c.insert(
                    "relatedPlaybookId".into(),
                    json!(700_000 + r.below(40) as i64),
                );
            }
        }
        Value::Object(c)
    }
}

/// Message types Drift uses, weighted towards chat.
const MESSAGE_TYPES: &[&str] = &[
    "chat",
    "chat",
    "chat",
    "private_note",
    "edit",
    "conversation_transfer",
    "private_prompt",
];
const BODIES: &[&str] = &[
    "<p>Hi! Can I get a démo of the product?</p>",
    "<p>Sure — which day works? 📅</p>",
    "<p>Internal: lead is <b>hot</b></p>",
    "<p>Merci beaucoup !</p>",
    "<p>料金について教えてください</p>",
    "<p>Transferred to sales</p>",
];

impl Dataset {
    /// How many messages the i-th conversation has (1 to 12).
    pub fn message_count(&self, i: u32) -> u32 {
        1 + Rng::new(self.seed, 4, i).below(12) as u32
    }

    /// The j-th message of a conversation (`conversation` as GET /conversations/{id} returns it),
    /// created at `created`: the first is the contact's, the rest by users, bots and the system.
    pub fn message(&self, conversation: &Value, i: u32, j: u32, created: i64) -> Value {
        let mut r = Rng::new(self.seed, 5, i.wrapping_mul(16).wrapping_add(j));
        let conversation_id = conversation["id"].as_i64().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), json!(conversation_id * 16 + i64::from(j)));
        m.insert("conversationId".into(), json!(conversation_id));
        m.insert("orgId".into(), json!(ORG_ID));
        m.insert("body".into(), json!(r.pick(BODIES)));
        let from_contact = j == 0 || r.chance(25);
        let author = if from_contact {
            json!({"id": conversation["contactId"], "type": "contact", "bot": false})
        } else {
            let u = r.below(u64::from(self.users.max(1))) as u32;
            json!({"id": self.user_id(u), "type": "user", "bot": u + 2 >= self.users})
        };
        m.insert("author".into(), author);
        let kind = if j == 0 {
            "chat"
        } else {
            r.pick(MESSAGE_TYPES)
        };
        m.insert("type".into(), json!(kind));
        if kind == "edit" {
            // an edit points at an earlier message of the same conversation
            let edited = conversation_id * 16 + i64::from(r.below(u64::from(j)) as u32);
            m.insert("editedMessageId".into(), json!(edited));
            m.insert(
                "editType".into(),
                json!(r.pick(&["delete", "replace", "replace_body", "replace_buttons"])),
            );
        }
        m.insert("createdAt".into(), json!(created));
        if from_contact {
            let mut context = json!({"ip": format!("203.0.113.{}", r.below(250)), "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"});
            if r.chance(50) {
                // where the geolocation sits is undocumented: under `location` in one
                // conversation, flat in `context` in the next
                let geo = json!({"city": "Zürich", "country": "CH", "countryName": "Switzerland",
                    "region": "ZH", "postalCode": "8001", "latitude": 47.3769, "longitude": 8.5417,
                    "locale": "de-CH", "timezone": "Europe/Zurich"});
                match conversation_id % 2 {
                    0 => context["location"] = geo,
                    _ => {
                        if let (Some(c), Some(g)) = (context.as_object_mut(), geo.as_object()) {
                            c.extend(g.clone());
                        }
                    }
                }
                context["href"] = json!("https://www.example.com/pricing?utm_source=ads");
                context["referrer"] = json!("https://www.google.com/");
                context["title"] = json!("Pricing – Example");
            }
            m.insert("context".into(), context);
        } else if r.chance(30) {
            m.insert("buttons".into(), json!([{"label": "Yes ✅", "value": "yes", "type": "reply"}, {"label": "Non", "value": "no", "type": "reply"}]));
        }
        if r.chance(20) {
            m.insert(
                "attributes".into(),
                json!({"integrationSource": "playbook", "campaignId": 4_000 + r.below(9) as i64}),
            );
        }
        Value::Object(m)
    }

    /// A contact by id, or `None` for ids that do not exist or were deleted.
    pub fn contact(&self, id: i64) -> Option<Value> {
        let n = id.checked_sub(9_100_000_000)?;
        if n < 0 || n > i64::from(self.conversations / 2) || n % 23 == 5 {
            return None;
        }
        let mut r = Rng::new(self.seed, 6, n as u32);
        let created = r.between(EPOCH_START_MS - 86_400_000 * 365, EPOCH_END_MS);
        let name = format!("{} {}", r.pick(FIRST), r.pick(LAST));
        let mut attributes = json!({
            "email": format!("visitor{n}@example.org"),
            "name": name,
            "tags": [{"name": r.pick(&["lead", "customer", "partner"]), "color": "#61AFEF"}],
            "socialProfiles": {"linkedin": format!("https://linkedin.example/in/visitor{n}")},
            "events": {},
            "start_date": created,
            "_end_user_version": 1 + r.below(5) as i64,
        });
        if r.chance(50) {
            attributes["phone"] = json!(format!("+44 20 7946 {:04}", r.below(10_000)));
        }
        if r.chance(40) {
            attributes["plan"] = json!(r.pick(&["free", "pro", "enterprise"]));
        }
        messy(&mut attributes, &mut r, n, created);
        Some(json!({"id": id, "createdAt": created, "attributes": attributes}))
    }
}

/// The contact attributes the account lists (`GET /contacts/attributes`): Drift's standard ones and
/// custom ones of every type, as (name, type, display name).
pub const CONTACT_ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("email", "EMAIL", "Email"),
    ("name", "STRING", "Name"),
    ("phone", "PHONE", "Phone"),
    ("start_date", "DATETIME", "First seen"),
    ("_END_USER_VERSION", "NUMERIC", "End user version"),
    ("lead_score", "NUMERIC", "Lead score"),
    ("is_customer", "BOOLEAN", "Customer"),
    ("last_seen", "DATETIME", "Last seen"),
    ("renewal_date", "DATE", "Renewal date"),
    ("website", "URL", "Website"),
    ("lifecycle_stage", "ENUM", "Lifecycle stage"),
    ("company", "STRING", "Company"),
    ("last_context_location", "STRING", "Last location"),
];

/// What real contact bodies carry beside their attributes: both case spellings of the version
/// key, `_calculated_version`, sometimes `externalId` beside `external_id`, a JSON-encoded string
/// where an object would do, empty `tags`, and custom attributes of every type (a DATETIME as
/// epoch milliseconds or as RFC 3339 text, a NUMERIC sometimes as a numeric string).
fn messy(a: &mut Value, r: &mut Rng, n: i64, created: i64) {
    a["_END_USER_VERSION"] = a["_end_user_version"].clone();
    a["_calculated_version"] = json!(1 + r.below(9) as i64);
    if r.chance(30) {
        a["external_id"] = json!(format!("crm-{n}"));
        a["externalId"] = json!(format!("crm-{n}"));
    }
    if r.chance(20) {
        a["tags"] = json!([]);
    }
    let city = r.pick(&["Oslo", "Lyon", "Kraków"]);
    a["last_context_location"] = json!(json!({"city": city, "country": "NO"}).to_string());
    let score = r.below(1000) as f64 / 10.0;
    a["lead_score"] = if r.chance(25) {
        json!(score.to_string())
    } else {
        json!(score)
    };
    a["is_customer"] = json!(r.chance(30));
    let seen = created + r.below(86_400_000 * 30) as i64;
    a["last_seen"] = match r.chance(50) {
        true => json!(seen),
        false => json!(chrono_free_rfc3339(seen)),
    };
    a["renewal_date"] = json!(format!(
        "2027-{:02}-{:02}",
        1 + r.below(12),
        1 + r.below(28)
    ));
    a["website"] = json!(format!("https://visitor{n}.example.org"));
    a["lifecycle_stage"] = json!(r.pick(&["lead", "mql", "sql", "customer"]));
    a["company"] = json!(r.pick(&["Acme", "Globex", "Initech", "Søstrene Grene"]));
}

/// RFC 3339 text of an epoch-millisecond time, UTC (as some Drift accounts store DATETIMEs).
fn chrono_free_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

fn custom_property(r: &mut Rng, d: &Dataset) -> Value {
    let ty = r.pick(PROPERTY_TYPES);
    let value = match ty {
        "NUMBER" => json!(r.below(1_000_000) as f64 / 100.0),
        "LAT" => json!((r.below(18_000) as i64 - 9_000) as f64 / 100.0),
        "LON" => json!((r.below(36_000) as i64 - 18_000) as f64 / 100.0),
        "DATETIME" => json!(r.between(EPOCH_START_MS, EPOCH_END_MS)),
        "DATE" => json!(format!(
            "20{:02}-{:02}-{:02}",
            19 + r.below(7),
            1 + r.below(12),
            1 + r.below(28)
        )),
        "TEAMMEMBER" => json!(d
            .user_id(r.below(u64::from(d.users.max(1))) as u32)
            .to_string()),
        "ENUMARRAY" => json!(["gold", "emea"][..1 + r.below(2) as usize]),
        "EMAIL" => json!("owner@example.com"),
        "LATLON" => json!("52.5200,13.4050"),
        "PHONE" => json!("+49 30 1234567"),
        "URL" => json!("https://example.com/ñ"),
        "ENUM" => json!(r.pick(&["tier-1", "tier-2", "tier-3"])),
        _ => json!(r.pick(&["plain text", "naïve café", "多言語"])),
    };
    json!({"label": format!("{} field", ty.to_lowercase()), "name": format!("{}_field", ty.to_lowercase()), "value": value, "type": ty})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_ordered() {
        let d = Dataset::sandbox();
        assert_eq!(d.conversation(5, true), d.conversation(5, true));
        let t = |i| d.conversation(i, false)["updatedAt"].as_i64().unwrap();
        assert!((1..d.conversations).all(|i| t(i) > t(i - 1)));
        assert_eq!(d.user(d.users - 1)["bot"], json!(true));
    }
}
