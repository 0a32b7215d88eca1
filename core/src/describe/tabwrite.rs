//! Go's `text/tabwriter`, as oc's describers initialise it, so that values
//! holding tabs or newlines line up as in oc.

/// Aligns text the way oc's describers do: Go's `text/tabwriter` initialised with
/// minwidth 0, tabwidth 8, padding 1, pad character `\t` and no flags.
///
/// A tab (or `\v`) ends a cell; the text after a line's last tab is not part of a
/// column. A column block is a run of adjacent lines that all have a cell in that
/// column; its width is its widest cell plus one, rounded up to a multiple of 8, and
/// each cell is padded to it with tabs. A `\f` ends the line and the blocks.
pub(super) fn tabwrite(text: &str) -> String {
    const TABWIDTH: usize = 8;
    const PADDING: usize = 1;

    struct Line<'a> {
        cells: Vec<&'a str>,
        rest: &'a str,
        newline: bool,
        ends_blocks: bool,
    }

    let mut lines = Vec::new();
    let mut cells = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\t' | '\u{b}' => {
                cells.push(&text[start..i]);
                start = i + 1;
            }
            '\n' | '\u{c}' => {
                lines.push(Line {
                    cells: std::mem::take(&mut cells),
                    rest: &text[start..i],
                    newline: true,
                    ends_blocks: c == '\u{c}',
                });
                start = i + 1;
            }
            _ => {}
        }
    }
    lines.push(Line {
        cells,
        rest: &text[start..],
        newline: false,
        ends_blocks: false,
    });

    let width = |s: &str| s.chars().count();
    let columns = lines.iter().map(|l| l.cells.len()).max().unwrap_or(0);
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.cells.len()]).collect();
    for column in 0..columns {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].cells.len() <= column {
                i += 1;
                continue;
            }
            let block = i;
            let mut block_width = 0;
            loop {
                block_width = block_width.max(width(lines[i].cells[column]) + PADDING);
                let ends = lines[i].ends_blocks;
                i += 1;
                if ends || i == lines.len() || lines[i].cells.len() <= column {
                    break;
                }
            }
            for line_widths in &mut widths[block..i] {
                line_widths[column] = block_width;
            }
        }
    }

    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (line, line_widths) in lines.iter().zip(&widths) {
        for (cell, &cell_width) in line.cells.iter().zip(line_widths) {
            out.push_str(cell);
            let padded = cell_width.div_ceil(TABWIDTH) * TABWIDTH;
            let tabs = (padded - width(cell)).div_ceil(TABWIDTH);
            out.extend(std::iter::repeat_n('\t', tabs));
        }
        out.push_str(line.rest);
        if line.newline {
            out.push('\n');
        }
    }
    out
}
