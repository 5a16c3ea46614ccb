//! The column-table language of `schemas/columns/*.txt`: one column per line (`NAME TYPE
//! DESCRIPTION`), `#` comments, `[Shape]` sections for nested objects. Parses a table into
//! [`Table`]; `schema.rs` turns it into JSON Schema. Pure: no files (tables are compiled in).

/// One column of a column table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Field name as the API spells it.
    pub name: String,
    /// Declared type.
    pub ty: ColumnType,
    /// Human description (goes into the schema).
    pub description: String,
}

/// The types a column table may use.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnType {
    /// JSON integer within int64.
    Integer,
    /// Any JSON number.
    Number,
    /// JSON string.
    String,
    /// JSON boolean.
    Boolean,
    /// Epoch milliseconds, an integer.
    EpochMs,
    /// A free-form JSON object.
    Object,
    /// An array of the inner type.
    Array(Box<ColumnType>),
    /// A named nested object defined in the same table (`[Shape]`).
    Shape(String),
    /// One of several scalar/array types.
    Union(Vec<ColumnType>),
}

/// A parsed column table: top-level columns plus named nested shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Top-level columns in table order.
    pub columns: Vec<Column>,
    /// Nested shapes in table order.
    pub shapes: Vec<(String, Vec<Column>)>,
}

impl Table {
    /// Parses a column table. Errors name the line.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut columns = Vec::new();
        let mut shapes: Vec<(String, Vec<Column>)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                shapes.push((name.to_string(), Vec::new()));
                continue;
            }
            let (name, rest) = split_word(line);
            let (ty_text, description) = split_word(rest);
            if ty_text.is_empty() {
                return Err(format!("line {}: column `{name}` has no type", n + 1));
            }
            let ty = parse_type(ty_text).map_err(|e| format!("line {}: {e}", n + 1))?;
            let column = Column {
                name: name.to_string(),
                ty,
                description: description.to_string(),
            };
            match shapes.last_mut() {
                Some((_, cols)) => cols.push(column),
                None => columns.push(column),
            }
        }
        let table = Table { columns, shapes };
        table.check_shapes()?;
        Ok(table)
    }

    fn check_shapes(&self) -> Result<(), String> {
        fn walk(t: &ColumnType, table: &Table) -> Result<(), String> {
            match t {
                ColumnType::Shape(s) if table.shape(s).is_none() => Err(format!(
                    "type `{s}` is used but no `[{s}]` section defines it"
                )),
                ColumnType::Array(inner) => walk(inner, table),
                ColumnType::Union(all) => all.iter().try_for_each(|t| walk(t, table)),
                _ => Ok(()),
            }
        }
        let all = self
            .columns
            .iter()
            .chain(self.shapes.iter().flat_map(|(_, c)| c.iter()));
        all.into_iter().try_for_each(|c| walk(&c.ty, self))
    }

    /// The columns of a named nested shape.
    pub fn shape(&self, name: &str) -> Option<&[Column]> {
        self.shapes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

fn parse_type(text: &str) -> Result<ColumnType, String> {
    // a union splits on `|` outside angle brackets
    let mut depth = 0;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            '|' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    if parts.len() > 1 {
        return parts
            .into_iter()
            .map(parse_type)
            .collect::<Result<_, _>>()
            .map(ColumnType::Union);
    }
    Ok(match text {
        "integer" => ColumnType::Integer,
        "number" => ColumnType::Number,
        "string" => ColumnType::String,
        "boolean" => ColumnType::Boolean,
        "epoch_ms" => ColumnType::EpochMs,
        "object" => ColumnType::Object,
        _ => {
            if let Some(inner) = text
                .strip_prefix("array<")
                .and_then(|t| t.strip_suffix('>'))
            {
                ColumnType::Array(Box::new(parse_type(inner)?))
            } else if text.chars().next().is_some_and(char::is_uppercase)
                && text.chars().all(char::is_alphanumeric)
            {
                ColumnType::Shape(text.to_string())
            } else {
                return Err(format!("unknown type `{text}`"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_unions_and_shapes() {
        let t = Table::parse(
            "# c\nid  integer  The id.\nv  string|array<string>  V\ntags array<Tag>\n\n[Tag]\nname string  N\n",
        )
        .unwrap();
        assert_eq!(t.columns.len(), 3);
        assert_eq!(
            t.columns[1].ty,
            ColumnType::Union(vec![
                ColumnType::String,
                ColumnType::Array(Box::new(ColumnType::String))
            ])
        );
        assert_eq!(t.shapes[0].1[0].name, "name");
    }

    #[test]
    fn rejects_unknown_type_and_undefined_shape() {
        assert!(Table::parse("id intger\n").unwrap_err().contains("line 1"));
        assert!(Table::parse("t array<Tag>\n")
            .unwrap_err()
            .contains("[Tag]"));
    }
}
