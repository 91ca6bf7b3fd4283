//! CSV export for spreadsheets: UTF-8 with a byte-order mark (so spreadsheet programs show Chinese correctly),
//! CRLF line ends, and RFC 4180 quoting.

/// The byte-order mark that starts every export.
pub const BOM: &str = "\u{feff}";

/// A table as CSV text.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from(BOM);
    line(&mut out, header.iter().copied());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str));
    }
    out
}

fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it_and_starts_with_a_bom() {
        let csv = table(
            &["名称", "备注"],
            &[vec!["第一网格".into(), "说\"你好\", 再见".into()]],
        );
        assert_eq!(
            csv,
            "\u{feff}名称,备注\r\n第一网格,\"说\"\"你好\"\", 再见\"\r\n"
        );
    }
}
