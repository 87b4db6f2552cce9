//! Printing rows the three ways a command offers (`--format table|csv|json`): one definition of
//! the columns per command, so the table, the CSV and the JSON never disagree.

use std::io::Write;

use super::args::OutputFormat;

/// One cell: text, a number, or nothing (an empty CSV field, `null` in JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Number(i64),
    Empty,
}

impl Cell {
    pub fn text(value: impl Into<String>) -> Cell {
        Cell::Text(value.into())
    }

    pub fn number(value: impl TryInto<i64>) -> Cell {
        value.try_into().map_or(Cell::Empty, Cell::Number)
    }

    pub fn maybe(value: Option<i64>) -> Cell {
        value.map_or(Cell::Empty, Cell::Number)
    }

    fn shown(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(text) => serde_json::Value::String(text.clone()),
            Cell::Number(n) => serde_json::Value::from(*n),
            Cell::Empty => serde_json::Value::Null,
        }
    }
}

/// Rows under named columns, plus what a JSON document carries beside them.
pub struct Rows {
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// The rows as `format` writes them. `json_key` names the array in the JSON document,
    /// `json_extra` are its other fields (in order); a table and a CSV show only the rows.
    pub fn render(
        &self,
        format: OutputFormat,
        json_key: &str,
        json_extra: Vec<(&str, serde_json::Value)>,
    ) -> Result<Vec<u8>, std::io::Error> {
        match format {
            OutputFormat::Table => Ok(self.table().into_bytes()),
            OutputFormat::Csv => self.csv(),
            OutputFormat::Json => {
                let mut document = serde_json::Map::new();
                let rows: Vec<serde_json::Value> = self
                    .rows
                    .iter()
                    .map(|row| {
                        let object: serde_json::Map<String, serde_json::Value> = self
                            .columns
                            .iter()
                            .zip(row)
                            .map(|(name, cell)| ((*name).to_owned(), cell.json()))
                            .collect();
                        serde_json::Value::Object(object)
                    })
                    .collect();
                document.insert(json_key.to_owned(), serde_json::Value::Array(rows));
                for (key, value) in json_extra {
                    document.insert(key.to_owned(), value);
                }
                let mut bytes = serde_json::to_vec_pretty(&serde_json::Value::Object(document))
                    .map_err(std::io::Error::other)?;
                bytes.push(b'\n');
                Ok(bytes)
            }
        }
    }

    /// RFC 4180: a header row, fields quoted where they need it, CRLF line ends.
    pub fn csv(&self) -> Result<Vec<u8>, std::io::Error> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(self.columns).map_err(csv_error)?;
        for row in &self.rows {
            writer
                .write_record(row.iter().map(Cell::shown))
                .map_err(csv_error)?;
        }
        writer
            .into_inner()
            .map_err(|err| std::io::Error::other(err.to_string()))
    }

    /// Aligned columns, two spaces apart, numbers to the right.
    pub fn table(&self) -> String {
        let shown: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::shown).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                shown
                    .iter()
                    .map(|row| row.get(c).map_or(0, |s| s.chars().count()))
                    .chain([self.columns[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|c| {
                self.rows
                    .iter()
                    .any(|row| matches!(row.get(c), Some(Cell::Number(_))))
                    && self
                        .rows
                        .iter()
                        .all(|row| !matches!(row.get(c), Some(Cell::Text(_))))
            })
            .collect();
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| (*c).to_owned()).collect();
        for line in std::iter::once(&header).chain(shown.iter()) {
            let cells: Vec<String> = line
                .iter()
                .enumerate()
                .map(|(c, text)| {
                    let pad = widths[c].saturating_sub(text.chars().count());
                    if numeric[c] {
                        format!("{}{text}", " ".repeat(pad))
                    } else {
                        format!("{text}{}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

fn csv_error(err: csv::Error) -> std::io::Error {
    std::io::Error::other(err.to_string())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        Rows {
            columns: &["id", "name", "count"],
            rows: vec![
                vec![
                    Cell::number(7),
                    Cell::text("Mug, \"red\""),
                    Cell::number(12),
                ],
                vec![Cell::number(12), Cell::text("Lamp"), Cell::Empty],
            ],
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_ends_lines_with_crlf() {
        let csv = String::from_utf8(sample().csv().unwrap()).unwrap();
        assert_eq!(
            csv,
            "id,name,count\r\n7,\"Mug, \"\"red\"\"\",12\r\n12,Lamp,\r\n"
        );
    }

    #[test]
    fn table_aligns_numbers_right_and_text_left() {
        assert_eq!(
            sample().table(),
            "id  name        count\n 7  Mug, \"red\"     12\n12  Lamp\n"
        );
    }

    #[test]
    fn json_names_every_column_and_keeps_empty_cells_as_null() {
        let bytes = sample()
            .render(OutputFormat::Json, "things", vec![("total", 19.into())])
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["things"][0]["name"], "Mug, \"red\"");
        assert_eq!(value["things"][1]["count"], serde_json::Value::Null);
        assert_eq!(value["total"], 19);
    }
}
