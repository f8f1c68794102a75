//! Plain-text tables for human output (`mirrors`, `graph`): columns padded
//! to their widest cell, two spaces apart, the last column unpadded so that
//! no line ends in spaces. Widths count characters, not bytes, so that `→`
//! and `—` line up.

/// A table being built row by row.
#[derive(Debug, Clone)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row; missing cells are empty, extra cells are kept.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, each ending in a newline.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_characters() {
        let mut t = Table::new(&["TYPE", "INVALIDATES"]);
        t.row(vec!["posts".into(), "posts, feed".into()]);
        t.row(vec!["—".into(), "x".into()]);
        assert_eq!(
            t.render(),
            "TYPE   INVALIDATES\nposts  posts, feed\n—      x\n"
        );
    }

    #[test]
    fn no_trailing_spaces() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["long cell".into(), String::new()]);
        assert!(t.render().lines().all(|l| !l.ends_with(' ')));
    }
}
