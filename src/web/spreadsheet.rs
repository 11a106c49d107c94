//! CSV that spreadsheets open safely: every field quoted, CRLF line ends, and fields that a
//! spreadsheet could run as a formula defused (OWASP "CSV injection").

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
/// Separators some spreadsheet or locale splits on: a cell may begin after any of them.
const SEPARATORS: [char; 4] = [',', ';', '\t', '|'];

/// Defuses a field a spreadsheet could run as a formula in any common dialect: a `'` goes
/// before a formula character at the start of the field, and at the start of any piece a
/// program splitting on `,` `;` `|` or tab would make of it (one that ignores the quotes).
pub fn defuse(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    let mut cell_start = true;
    for c in value.chars() {
        if cell_start && FORMULA_START.contains(&c) {
            out.push('\'');
        }
        out.push(c);
        cell_start = SEPARATORS.contains(&c) || (cell_start && c == ' ');
    }
    out
}

/// A CSV writer into memory, every field quoted.
pub fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn fields_that_could_start_a_formula_in_any_dialect_are_defused() {
        assert_eq!(defuse("plain"), "plain");
        assert_eq!(defuse("a,b"), "a,b");
        assert_eq!(defuse("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(defuse("@cmd"), "'@cmd");
        assert_eq!(defuse("x;=cmd|' /C calc'!A0"), "x;'=cmd|' /C calc'!A0");
        assert_eq!(defuse("a| +1"), "a| '+1");
        assert_eq!(defuse("a,-2"), "a,'-2");
        assert_eq!(defuse("Smith-Jones"), "Smith-Jones");
    }
}
