// SPDX-License-Identifier: GPL-2.0-only

//! A plain-text table with aligned columns.

/// How a column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

enum Line {
    Cells(Vec<String>),
    /// A heading line across the table, with a blank line before it.
    Section(String),
}

/// A table of text cells, rendered with every column padded to its widest
/// cell.
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    lines: Vec<Line>,
}

impl Table {
    /// Creates a table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            align: columns.iter().map(|&(_, a)| a).collect(),
            lines: Vec::new(),
        }
    }

    /// Appends a row. Missing cells are blank; extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.lines.push(Line::Cells(cells));
    }

    /// Appends a section heading.
    pub fn section(&mut self, title: &str) {
        self.lines.push(Line::Section(title.to_string()));
    }

    /// Renders the table: header, a rule, then the rows. Columns are
    /// separated by two spaces and lines carry no trailing blanks.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for line in &self.lines {
            if let Line::Cells(cells) = line {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(c));
                }
            }
        }
        let mut out = String::new();
        self.render_cells(&mut out, &self.headers, &widths);
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for (i, line) in self.lines.iter().enumerate() {
            match line {
                Line::Cells(cells) => self.render_cells(&mut out, cells, &widths),
                Line::Section(title) => {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(title);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn render_cells(&self, out: &mut String, cells: &[String], widths: &[usize]) {
        let mut line = String::new();
        for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w - width(cell));
            match self.align[i] {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The display width of `s`, counting each character as one column.
fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns are padded to the widest cell, numbers to the right.
    #[test]
    fn columns_are_aligned() {
        let mut t = Table::new(&[("name", Align::Left), ("value", Align::Right)]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "12345".into()]);
        let want = "\
name    value
-------------
a           1
longer  12345
";
        assert_eq!(t.render(), want);
    }

    /// Short rows are padded with blanks and trailing blanks are trimmed.
    #[test]
    fn short_rows_are_padded() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "a  b\n----\nx\n");
    }

    /// Sections get a line of their own with a blank line before.
    #[test]
    fn sections_are_headings() {
        let mut t = Table::new(&[("k", Align::Left), ("v", Align::Right)]);
        t.section("first");
        t.row(vec!["x".into(), "1".into()]);
        t.section("second");
        t.row(vec!["µs".into(), "2".into()]);
        assert_eq!(t.render(), "k   v\n-----\nfirst\nx   1\n\nsecond\nµs  2\n");
    }
}
