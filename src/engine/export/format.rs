//! The two output formats and the encoder that writes rows in them, a page at a time.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// CSV (a header line, then rows; CRLF line ends) or JSON lines (one object per row).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

/// A time cell: RFC 3339, UTC, microseconds (what PostgreSQL keeps).
pub(super) fn time(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A number cell; not-a-number and infinities (which JSON cannot hold) are null.
pub(super) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Writes rows as CSV (header first) or JSON lines under fixed columns.
pub(super) struct Encoder {
    format: ExportFormat,
    csv: Option<csv::Writer<Vec<u8>>>,
    columns: Vec<Column>,
    out: Vec<u8>,
}

/// A column's name: fixed, or a metric's key (the users data set).
pub(super) type Column = std::borrow::Cow<'static, str>;

/// Fixed column names.
pub(super) fn fixed(names: impl IntoIterator<Item = &'static str>) -> Vec<Column> {
    names.into_iter().map(Column::Borrowed).collect()
}

impl Encoder {
    pub(super) fn new(format: ExportFormat, columns: Vec<impl Into<Column>>) -> Self {
        let columns: Vec<Column> = columns.into_iter().map(Into::into).collect();
        let csv = (format == ExportFormat::Csv).then(|| {
            let mut w = csv_writer();
            w.write_record(columns.iter().map(|c| c.as_bytes()))
                .expect("writing to memory");
            w
        });
        Encoder {
            format,
            csv,
            columns,
            out: Vec::new(),
        }
    }

    /// One row: its cells in column order.
    pub(super) fn write<'a>(&mut self, cells: impl IntoIterator<Item = &'a Value>) {
        let cells = self.columns.iter().zip(cells);
        match self.format {
            ExportFormat::Csv => {
                let w = self.csv.as_mut().expect("csv writer");
                w.write_record(cells.map(|(_, v)| csv_cell(v)))
                    .expect("writing to memory");
            }
            ExportFormat::Jsonl => {
                let mut ser = serde_json::Serializer::new(&mut self.out);
                let mut map = ser.serialize_map(Some(self.columns.len())).expect("json");
                for (column, v) in cells {
                    map.serialize_entry(column.as_ref(), v).expect("json");
                }
                map.end().expect("json");
                self.out.push(b'\n');
            }
        }
    }

    /// The bytes encoded since the last take.
    pub(super) fn take(&mut self) -> Vec<u8> {
        match self.csv.as_mut() {
            // A fresh writer for the next page (no header again).
            Some(w) => std::mem::replace(w, csv_writer())
                .into_inner()
                .expect("writing to memory"),
            None => std::mem::take(&mut self.out),
        }
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// A CSV cell: strings as they are (the CSV writer quotes and escapes), null as empty,
/// objects and arrays as JSON text.
fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_what_needs_it() {
        let mut e = Encoder::new(ExportFormat::Csv, vec!["a", "b"]);
        let tricky = Value::String("say \"hi\", then\nleave".into());
        let attrs = serde_json::json!({"city": "Paris, FR"});
        e.write([&tricky, &attrs]);
        let text = String::from_utf8(e.take()).unwrap();
        assert_eq!(
            text,
            "a,b\r\n\"say \"\"hi\"\", then\nleave\",\"{\"\"city\"\":\"\"Paris, FR\"\"}\"\r\n"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "say \"hi\", then\nleave");
        assert_eq!(&record[1], "{\"city\":\"Paris, FR\"}");
    }

    #[test]
    fn jsonl_keeps_column_order_and_types() {
        let mut e = Encoder::new(ExportFormat::Jsonl, vec!["z", "a"]);
        e.write([&Value::Bool(true), &Value::from(1)]);
        assert_eq!(
            String::from_utf8(e.take()).unwrap(),
            "{\"z\":true,\"a\":1}\n"
        );
    }

    #[test]
    fn pages_are_taken_apart_and_the_header_comes_once() {
        let mut e = Encoder::new(ExportFormat::Csv, vec!["n"]);
        e.write([&Value::from(1)]);
        assert_eq!(e.take(), b"n\r\n1\r\n");
        e.write([&Value::from(2)]);
        assert_eq!(e.take(), b"2\r\n");
        assert_eq!(e.take(), b"");
    }

    #[test]
    fn json_lines_after_the_first_page_are_kept() {
        let mut e = Encoder::new(ExportFormat::Jsonl, vec!["n"]);
        e.write([&Value::from(1)]);
        assert_eq!(e.take(), b"{\"n\":1}\n");
        e.write([&Value::from(2)]);
        assert_eq!(e.take(), b"{\"n\":2}\n");
        assert_eq!(e.take(), b"");
    }
}
