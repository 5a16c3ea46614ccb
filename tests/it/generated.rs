//! The checked-in schemas and catalog are exactly what the generator writes from the column tables.
//! Run `UPDATE_GOLDEN=1 cargo test` to rewrite them after changing a column table.

use std::path::Path;

use tap_drift::config::TimestampFormat;
use tap_drift::discover::known;
use tap_drift::singer::catalog::catalog;
use tap_drift::streams::schema::{render, stream_schema};
use tap_drift::streams::STREAMS;

fn check(path: &Path, expected: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, expected).expect("write golden file");
        return;
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} differs from what the generators write (column tables, settings): run `UPDATE_GOLDEN=1 cargo test` and commit",
        path.display()
    );
}

#[test]
fn schemas_and_catalog_match_the_column_tables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for def in STREAMS {
        let schema = stream_schema(def, TimestampFormat::EpochMs).expect("schema generates");
        check(
            &root.join("schemas").join(format!("{}.json", def.name)),
            &render(&schema),
        );
    }
    check(
        &root.join("catalog.json"),
        &render(&catalog(
            &known(TimestampFormat::EpochMs).expect("schemas generate"),
        )),
    );
}

#[test]
fn readme_settings_table_matches_the_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README");
    let (start, end) = (
        "generated from src/config.rs by `UPDATE_GOLDEN=1 cargo test` -->\n",
        "<!-- /settings -->",
    );
    let a = readme.find(start).expect("settings start marker") + start.len();
    let b = readme.find(end).expect("settings end marker");
    let expected = format!(
        "{}{}{}",
        &readme[..a],
        tap_drift::tap::about::settings_table(),
        &readme[b..]
    );
    check(&path, &expected);
}

#[test]
fn every_column_table_has_a_stream_and_schema_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("schemas/columns")).expect("columns dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".txt")
            .to_string();
        assert!(
            STREAMS.iter().any(|d| d.name == name),
            "column table {name}.txt has no stream definition"
        );
    }
}

#[test]
fn every_stream_is_documented_and_selected_by_the_example_project() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| stream | key |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    let names: Vec<&str> = STREAMS.iter().map(|d| d.name).collect();
    assert_eq!(
        table, names,
        "the README's streams table lists every stream, in sync order"
    );
    let meltano = std::fs::read_to_string(root.join(".ci/consumers/meltano/meltano.yml"))
        .expect("meltano.yml");
    for name in names {
        assert!(
            meltano.contains(&format!("- {name}.*")),
            "the example Meltano project selects {name}"
        );
    }
    for setting in tap_drift::config::SETTINGS {
        assert!(
            meltano.contains(&format!("- {{name: {},", setting.name)),
            "the example Meltano project declares the setting {}",
            setting.name
        );
    }
}
