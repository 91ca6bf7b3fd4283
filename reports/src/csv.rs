//! CSV export for spreadsheets: UTF-8 with a byte-order mark (so spreadsheet programs show Chinese correctly),
//! CRLF line ends, and RFC 4180 quoting.

/// The byte-order mark that starts every export.
pub const BOM: &str = "\u{feff}";

/// The leading columns of a district's CSV: every row says which community it is of.
pub const COMMUNITY_HEADER: [&str; 2] = ["community_id 社区编号", "community 社区"];

/// A table as CSV text.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from(BOM);
    line(&mut out, header.iter().copied());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str));
    }
    out
}

/// Several communities' tables of one report (as [`table`] writes them, with the same header) as one table, each
/// row led by its community's id and name ([`COMMUNITY_HEADER`]). `parts` are `(id, name, csv)`; with no parts the
/// table is the leading header alone.
pub fn side_by_side(parts: &[(i64, &str, &str)]) -> String {
    let mut out = String::from(BOM);
    let mut header_written = false;
    for (id, name, text) in parts {
        let mut records = records(text.strip_prefix(BOM).unwrap_or(text));
        let header = records.next().unwrap_or_default();
        if !header_written {
            cells(&mut out, COMMUNITY_HEADER.iter().copied());
            out.push(',');
            out.push_str(header);
            out.push_str("\r\n");
            header_written = true;
        }
        let id = id.to_string();
        for record in records {
            cells(&mut out, [id.as_str(), name].into_iter());
            out.push(',');
            out.push_str(record);
            out.push_str("\r\n");
        }
    }
    if !header_written {
        line(&mut out, COMMUNITY_HEADER.iter().copied());
    }
    out
}

/// The records of CSV text (each without its CRLF), telling a line end inside a quoted cell from a record's end.
fn records(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut quoted = false;
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => quoted = !quoted,
                b'\r' if !quoted && bytes.get(i + 1) == Some(&b'\n') => {
                    let record = &rest[..i];
                    rest = &rest[i + 2..];
                    return Some(record);
                }
                _ => {}
            }
            i += 1;
        }
        let record = rest;
        rest = "";
        Some(record)
    })
}

fn line<'a>(out: &mut String, row: impl Iterator<Item = &'a str>) {
    cells(out, row);
    out.push_str("\r\n");
}

fn cells<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
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

    #[test]
    fn side_by_side_leads_every_row_with_its_community_and_keeps_quoted_line_ends() {
        let a = table(
            &["名称", "备注"],
            &[vec!["一".into(), "两行\r\n备注".into()]],
        );
        let b = table(
            &["名称", "备注"],
            &[vec!["二".into(), "x".into()], vec!["三".into(), "y".into()]],
        );
        assert_eq!(
            side_by_side(&[(1, "幸福里, 东", &a), (2, "和平里", &b)]),
            "\u{feff}community_id 社区编号,community 社区,名称,备注\r\n\
             1,\"幸福里, 东\",一,\"两行\r\n备注\"\r\n\
             2,和平里,二,x\r\n\
             2,和平里,三,y\r\n"
        );
        assert_eq!(
            side_by_side(&[]),
            "\u{feff}community_id 社区编号,community 社区\r\n"
        );
    }
}
