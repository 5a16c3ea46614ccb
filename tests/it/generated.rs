//! The checked-in schemas and catalog are exactly what the generator writes from the column tables,
//! and the README's settings and streams tables what the settings and stream tables say. Run
//! `UPDATE_GOLDEN=1 cargo test` to rewrite them after changing a table.

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

/// The README with the section between `<!-- {name}: ... -->` and `<!-- /{name} -->` replaced.
fn with_section(readme: &str, name: &str, content: &str) -> String {
    let start = format!("<!-- {name}: generated from ");
    let a = readme.find(&start).expect("start marker");
    let a = a + readme[a..].find("-->\n").expect("start marker's end") + "-->\n".len();
    let b = readme
        .find(&format!("<!-- /{name} -->"))
        .expect("end marker");
    format!("{}{content}{}", &readme[..a], &readme[b..])
}

#[test]
fn readme_tables_match_the_settings_and_the_streams() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README");
    let readme = with_section(
        &readme,
        "settings",
        &tap_drift::tap::about::settings_table(),
    );
    let expected = with_section(&readme, "streams", &tap_drift::tap::about::streams_table());
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

#[test]
fn the_meltano_hub_definition_matches_the_settings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join(tap_drift::tap::hub::path());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("hub dir");
    }
    check(&path, &tap_drift::tap::hub::definition());
}
