//! Reading the dashboard's HTML the way a person reads the page: text, table rows, cells.

/// The value of the attribute whose opening (up to the quote) is `marker`.
pub fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// Text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed.
pub fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.replace("<br>", " ").chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `<tr>` with this id.
pub fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no row {id}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

/// The text of the cell `data-field="{field}"` in a row.
pub fn cell(row: &str, field: &str) -> String {
    let marker = format!(r#"data-field="{field}""#);
    let start = row
        .find(&marker)
        .unwrap_or_else(|| panic!("no cell {field}"));
    let open_end = row[start..].find('>').unwrap() + start + 1;
    let end = row[open_end..].find("</td>").unwrap() + open_end;
    text(&row[open_end..end])
}
