//! Every field Drift sends reaches the warehouse: a field the column table lacks becomes a column
//! (unless the catalog chose the stream's fields), and with `flattening_enabled` objects become
//! `parent__child` columns, in SCHEMA and RECORD alike, with the emulator's values.

use std::collections::HashMap;

use drift_emulator::{Emulator, Options, Variants};
use serde_json::{json, Value};

use crate::support::*;

async fn with_unknown_fields() -> Emulator {
    let options = Options {
        variants: Variants {
            unknown_fields: true,
            ..Variants::default()
        },
        ..Options::new(TOKEN)
    };
    emulator_with(small(), options).await
}

#[tokio::test]
async fn a_catalog_that_chose_a_streams_fields_gets_no_new_ones() {
    let emu = with_unknown_fields().await;
    let dir = TempDir::new("shapes-chosen");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let discovered = tap(args(&[&"--config", &cfg, &"--discover"])).await;
    let mut catalog: Value = serde_json::from_slice(&discovered.stdout).expect("a catalog");
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let chosen = entry["stream"] == "conversations";
        for md in entry["metadata"].as_array_mut().expect("metadata") {
            let bc = md["breadcrumb"].clone();
            if bc == json!([]) {
                md["metadata"]["selected"] = json!(true);
            } else if chosen && bc == json!(["properties", "inboxId"]) {
                md["metadata"]["selected"] = json!(false);
            }
        }
    }
    let cat = dir.json("catalog.json", &catalog);
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert!(synced.records["conversations"]
        .iter()
        .all(|r| r.get("priority").is_none() && r.get("inboxId").is_none()));
    assert!(synced.records["users"]
        .iter()
        .all(|r| r["teamIds"] == json!([17, 23])));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("WARN") && l.contains("stream=conversations field=priority")),
        "{err}"
    );
}

#[tokio::test]
async fn flattening_turns_objects_into_columns_with_the_emulators_values() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("shapes-flat");
    let extra = json!({"flattening_enabled": true, "flattening_max_depth": 1});
    let cfg = dir.json("config.json", &config_for(&emu, extra));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let props = &synced.schemas["messages"]["schema"]["properties"];
    for column in ["author__id", "author__type", "author__bot"] {
        assert!(props[column].is_object(), "{column}: {props}");
    }
    assert!(props.get("author").is_none());
    assert!(props["buttons"]["type"]
        .as_array()
        .expect("types")
        .contains(&json!("array")));
    let truth: HashMap<String, Value> = truth(&emu, "messages")
        .into_iter()
        .map(|m| (m["id"].to_string(), m))
        .collect();
    let got = &synced.records["messages"];
    assert_eq!(got.len(), truth.len());
    for m in got {
        let want = &truth[&m["id"].to_string()];
        assert!(m.get("author").is_none());
        assert_eq!(m["author__id"], want["author"]["id"]);
        assert_eq!(m["author__type"], want["author"]["type"]);
        assert_eq!(m.get("author__bot"), want["author"].get("bot"));
        assert_eq!(m.get("buttons"), want.get("buttons"), "arrays stay JSON");
    }
}

#[tokio::test]
async fn every_field_the_emulator_sends_arrives_with_its_value() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("shapes-every-field");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    for stream in all_streams() {
        let key = key_of(stream);
        let sent: HashMap<String, &Value> = synced.records[stream]
            .iter()
            .map(|r| (r[key].to_string(), r))
            .collect();
        let truth = truth(&emu, stream);
        assert_eq!(sent.len(), truth.len(), "{stream}");
        for want in &truth {
            let got = sent[&want[key].to_string()];
            for (field, value) in want.as_object().expect("an object") {
                assert_eq!(&got[field], value, "{stream} {} .{field}", want[key]);
            }
        }
    }
}

#[tokio::test]
async fn contact_attributes_are_typed_columns_with_the_emulators_values() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("shapes-contact-columns");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let props = &synced.schemas["contacts"]["schema"]["properties"];
    let want_type = |ty: &str| match ty {
        "NUMERIC" => "number",
        "BOOLEAN" => "boolean",
        "DATETIME" => "integer",
        _ => "string",
    };
    for (name, ty, _) in drift_emulator::CONTACT_ATTRIBUTES {
        assert_eq!(
            props[name]["type"],
            json!(["null", want_type(ty)]),
            "{name}"
        );
    }
    assert!(
        props["attributes"].is_object(),
        "the object stays beside the columns"
    );
    let truth: HashMap<String, Value> = truth(&emu, "contacts")
        .into_iter()
        .map(|c| (c["id"].to_string(), c))
        .collect();
    for c in &synced.records["contacts"] {
        let attributes = &truth[&c["id"].to_string()]["attributes"];
        assert_eq!(&c["attributes"], attributes);
        for (name, ty, _) in drift_emulator::CONTACT_ATTRIBUTES {
            let want = typed_value(ty, attributes.get(*name).unwrap_or(&Value::Null));
            assert_eq!(
                c.get(*name).unwrap_or(&Value::Null),
                &want,
                "{name} of {}",
                c["id"]
            );
        }
    }
    let asked = emu
        .requests()
        .iter()
        .filter(|r| r.starts_with("/contacts/attributes"))
        .count();
    assert_eq!(asked, 1, "one request a run");
}

#[tokio::test]
async fn without_the_scope_or_with_the_settings_off_contacts_keep_one_object() {
    let options = Options {
        scopes: Some(
            [
                "conversation_read",
                "contact_read",
                "user_read",
                "account_read",
                "playbook_read",
            ]
            .map(String::from)
            .to_vec(),
        ),
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new("shapes-contact-noscope");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let props = synced.schemas["contacts"]["schema"]["properties"]
        .as_object()
        .expect("props");
    assert!(props.get("lead_score").is_none());
    let err = stderr(&out);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("all_contact_read"))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");

    let emu = emulator(small()).await;
    let off = json!({"contact_attribute_columns": false, "contact_attributes_object": false});
    let cfg = dir.json("off.json", &config_for(&emu, off));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let props = synced.schemas["contacts"]["schema"]["properties"]
        .as_object()
        .expect("props");
    assert!(props.get("lead_score").is_none() && props.get("attributes").is_none());
    assert!(synced.records["contacts"]
        .iter()
        .all(|c| c.get("attributes").is_none()));
    assert!(!emu
        .requests()
        .iter()
        .any(|r| r.starts_with("/contacts/attributes")));
}

#[tokio::test]
async fn discover_with_a_config_lists_the_attribute_columns() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("shapes-contact-discover");
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"timestamp_format": "date-time"})),
    );
    let out = tap(args(&[&"--config", &cfg, &"--discover"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog: Value = serde_json::from_slice(&out.stdout).expect("a catalog");
    let contacts = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["stream"] == "contacts")
        .expect("contacts");
    let last_seen = &contacts["schema"]["properties"]["last_seen"];
    assert_eq!(last_seen["format"], "date-time", "{last_seen}");
    assert!(contacts["metadata"]
        .as_array()
        .expect("metadata")
        .iter()
        .any(|m| m["breadcrumb"] == json!(["properties", "lead_score"])));
}
