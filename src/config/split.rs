//! Where a large YAML task file can be cut into pieces, so that the pieces are read
//! on two threads, each piece's parse buffers freed before the next is read.
//!
//! Pure text work: no parsing, only a scan of the lines. A cut is the start of a line
//! that begins an entry of the task list (`- ` at the list's own indentation). The
//! first piece is the text before the first cut; every later piece is the file's head
//! (everything up to and including the `tasks:` line) followed by the text from its
//! cut to the next, so every piece is a whole task file with the same settings.
//!
//! A line that looks like an entry may still lie inside a quoted string or a bracketed
//! list that spans lines. Then the piece before it ends inside that string or list and
//! its parse fails; the caller reads the whole file in one piece instead. Block scalars
//! (`|`, `>`) cannot hold such a line: their content is indented deeper than the entry
//! that holds them. Layouts whose pieces could read differently from the whole are
//! refused here outright: document markers and directives, tabs in indentation, line
//! breaks other than LF and CRLF, any top-level key after `tasks`, and an anchor
//! (`&name`) anywhere after the head: an alias after a cut to an anchor before it
//! would fail its piece (a wasted read), and the YAML reader resolves aliases by how
//! many anchors it has counted, which differs between a piece and the whole once a
//! name repeats. Anchors in the head are in every piece alike. What the scan cannot
//! see, a `tasks:` line inside a quoted string of the head, the caller rules out by
//! reading the head on its own first.

use std::borrow::Cow;

/// A file cut into pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pieces {
    /// End of the head: just after the `tasks:` line (0 for a file that is a bare list).
    pub head_end: usize,
    /// Where the pieces after the first begin: starts of entry lines, increasing, never
    /// the list's first entry; at least one.
    pub cuts: Vec<usize>,
}

impl Pieces {
    /// How many pieces there are.
    pub fn count(&self) -> usize {
        self.cuts.len() + 1
    }

    /// The text of piece `i`: the start of the file for the first, the head then the
    /// entries from its cut up to the next cut for the others.
    pub fn piece<'t>(&self, text: &'t str, i: usize) -> Cow<'t, str> {
        let end = self.cuts.get(i).copied().unwrap_or(text.len());
        match i.checked_sub(1) {
            None => Cow::Borrowed(&text[..end]),
            Some(prev) => {
                let at = self.cuts[prev];
                let mut s = String::with_capacity(self.head_end + end - at);
                s.push_str(&text[..self.head_end]);
                s.push_str(&text[at..end]);
                Cow::Owned(s)
            }
        }
    }
}

/// Lines of `text` with the byte offset where each starts; the line excludes its
/// `\n` and a `\r` before it.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.split_inclusive('\n').map(move |raw| {
        let at = start;
        start += raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        (at, line.strip_suffix('\r').unwrap_or(line))
    })
}

/// True for a line that only holds a comment or nothing.
fn is_blank(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// The entry marker at exactly `indent` spaces: `-` then a space or the line's end.
fn is_entry(line: &str, indent: usize) -> bool {
    line.len() > indent
        && line.as_bytes()[..indent].iter().all(|&b| b == b' ')
        && line[indent..].starts_with('-')
        && matches!(line.as_bytes().get(indent + 1), None | Some(b' '))
}

/// True for the line `tasks:`, with at most a comment after it.
fn is_tasks_key(line: &str) -> bool {
    line.strip_prefix("tasks:").is_some_and(|rest| {
        let rest = rest.trim_end();
        rest.is_empty() || (rest.starts_with(' ') && rest.trim_start().starts_with('#'))
    })
}

/// Where `text` can be cut, or None when it cannot (see the module docs): a cut at the
/// first entry at least `piece_bytes` after the previous cut (or the file's start), and
/// so on; the last piece may be shorter. None also when no entry but the first lies
/// that far in.
pub fn cut(text: &str, piece_bytes: usize) -> Option<Pieces> {
    // End of the head and the indentation of the list's entries, once found.
    let mut list: Option<(usize, Option<usize>)> = None;
    let mut seen_content = false;
    let mut entries = Vec::new();
    for (at, line) in lines(text) {
        // Document markers, directives and tab indentation: never cut.
        if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        if line.trim_start_matches(' ').starts_with('\t') {
            return None;
        }
        // Line breaks that YAML knows and this scan does not: a lone CR, NEL, LS, PS.
        if line.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            return None;
        }
        if is_blank(line) {
            continue;
        }
        match list {
            // Before the list: `tasks:` alone on its line at the margin starts it; a
            // first line `- ` at the margin makes the file a bare list. Anything else is
            // a setting, which the head carries into every piece.
            None => {
                if is_tasks_key(line) {
                    let end = at + line.len();
                    // The head takes the line's newline with it.
                    list = Some((end + text[end..].find('\n')? + 1, None));
                } else if !seen_content && is_entry(line, 0) {
                    list = Some((0, Some(0)));
                    entries.push(at);
                }
            }
            // The list's first entry fixes its indentation.
            Some((head_end, None)) => {
                let n = line.len() - line.trim_start_matches(' ').len();
                if !is_entry(line, n) {
                    return None;
                }
                list = Some((head_end, Some(n)));
                entries.push(at);
            }
            Some((_, Some(n))) => {
                if is_entry(line, n) {
                    entries.push(at);
                } else if !line.starts_with(' ') {
                    // Something at the margin after the list began: a key after `tasks`.
                    return None;
                }
            }
        }
        seen_content = true;
    }
    let (head_end, _) = list?;
    if has_anchor(&text[head_end..]) {
        return None;
    }
    // Never at the first entry: every piece keeps one entry at least.
    let mut cuts = Vec::new();
    let mut last = 0;
    for &at in entries.iter().skip(1) {
        if at - last >= piece_bytes {
            cuts.push(at);
            last = at;
        }
    }
    (!cuts.is_empty()).then_some(Pieces { head_end, cuts })
}

/// True when `text`, which starts at a line's start, holds an anchor (`&name`). An
/// anchor is a node's property, so its `&` starts a token that stands where a node
/// starts: at a line's start, after `- `, `? `, `: `, a flow indicator or a tag. `&`
/// inside plain text (`make && make install`, `cmd &>/dev/null`) does not count; inside
/// a quoted string it may, which only costs the file its two-thread read. Stops at the
/// first anchor, so the work is linear in the text.
fn has_anchor(text: &str) -> bool {
    text.match_indices('&').any(|(i, _)| {
        let before = &text[..i];
        if !before.is_empty() && !before.ends_with([' ', '\t', '\n', '\r', '[', '{', ',', ':']) {
            return false;
        }
        let spaced = before.trim_end_matches([' ', '\t']);
        let node_start = match spaced.chars().next_back() {
            None | Some('\n' | '\r' | '-' | '?' | ':' | '[' | '{' | ',') => true,
            // After a tag: `!!str &name value`.
            Some(_) => spaced
                .rsplit([' ', '\t', '\n', '\r', '[', '{', ','])
                .next()
                .is_some_and(|token| token.starts_with('!')),
        };
        node_start
            && text[i + 1..].starts_with(|c: char| !c.is_whitespace() && !",[]{}".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of `text` cut every `bytes` or more.
    fn pieces(text: &str, bytes: usize) -> Vec<String> {
        let p = cut(text, bytes).expect("a cut");
        (0..p.count())
            .map(|i| p.piece(text, i).into_owned())
            .collect()
    }

    /// Cut in two: the first entry past the middle.
    fn halves(text: &str) -> (String, String) {
        match &pieces(text, text.len() / 2)[..] {
            [a, b] => (a.clone(), b.clone()),
            other => panic!("{} pieces", other.len()),
        }
    }

    #[test]
    fn a_mapping_file_is_cut_at_entries_every_so_many_bytes() {
        let text = "max_concurrent: 4\ndefaults:\n  timeout: 5m\ntasks:\n  - task_id: a\n    cron: '* * * * *'\n  - task_id: b\n    cron: '* * * * *'\n  - task_id: c\n    cron: '* * * * *'\n  - task_id: d\n    cron: '* * * * *'\n";
        let head = "max_concurrent: 4\ndefaults:\n  timeout: 5m\ntasks:\n";
        let entry = |id: &str| format!("  - task_id: {id}\n    cron: '* * * * *'\n");
        // Entries start at bytes 49, 86, 123 and 160 of 197. Every 60 bytes or more: cuts
        // at b (86 from the start) and d (74 after b; c is 37 after it).
        assert_eq!(
            pieces(text, 60),
            [
                format!("{head}{}", entry("a")),
                format!("{head}{}{}", entry("b"), entry("c")),
                format!("{head}{}", entry("d")),
            ]
        );
        // Every byte: each entry its own piece, the first with the file's start.
        assert_eq!(
            pieces(text, 1),
            ["a", "b", "c", "d"].map(|id| format!("{head}{}", entry(id)))
        );
        // Half the file: the first entry past the middle.
        let (first, second) = halves(text);
        assert_eq!(first, format!("{head}{}{}", entry("a"), entry("b")));
        assert_eq!(second, format!("{head}{}{}", entry("c"), entry("d")));
        // Farther than the last entry: no cut.
        assert_eq!(cut(text, 161), None);
    }

    #[test]
    fn a_bare_list_and_a_list_at_the_margin_are_cut() {
        let bare = "# tasks\n- task_id: a\n  cron: x\n- task_id: b\n  cron: x\n";
        assert_eq!(
            halves(bare),
            (
                "# tasks\n- task_id: a\n  cron: x\n".to_owned(),
                "- task_id: b\n  cron: x\n".to_owned()
            )
        );
        let margin = "tasks:\n- task_id: a\n  cron: x\n- task_id: b\n  cron: x\n";
        assert_eq!(halves(margin).1, "tasks:\n- task_id: b\n  cron: x\n");
    }

    #[test]
    fn crlf_lines_and_comments_keep_their_bytes() {
        let text =
            "tasks: # the list\r\n  - task_id: a\r\n\r\n  # b comes next\r\n  - task_id: b\r\n";
        let (first, second) = halves(text);
        assert_eq!(
            first,
            "tasks: # the list\r\n  - task_id: a\r\n\r\n  # b comes next\r\n"
        );
        assert_eq!(second, "tasks: # the list\r\n  - task_id: b\r\n");
    }

    #[test]
    fn layouts_that_could_read_differently_are_not_cut() {
        let refused = [
            // a key after the list
            "tasks:\n  - task_id: a\n  - task_id: b\nmax_concurrent: 3\n",
            // document markers and directives
            "---\ntasks:\n  - task_id: a\n  - task_id: b\n",
            "max_concurrent: 3\n...\ntasks:\n  - task_id: a\n  - task_id: b\n",
            "%YAML 1.2\ntasks:\n  - task_id: a\n  - task_id: b\n",
            // a flow list, a list on the key's line, a tab
            "tasks:\n  [a, b]\n",
            "tasks: [a, b]\n",
            "tasks:\n  - task_id: a\n  - task_id: b\n   \tcron: x\n",
            // line breaks other than LF and CRLF hide a key after the list
            "tasks:\n  - task_id: a\n  - task_id: b\rmax_concurrent: 3\n",
            "tasks:\n  - task_id: a\n  - task_id: b\u{85}max_concurrent: 3\n",
            "tasks:\n  - task_id: a\n  - task_id: b\u{2028}max_concurrent: 3\n",
            "tasks:\n  - task_id: a\n  - task_id: b\u{2029}max_concurrent: 3\n",
            // an anchor after the head: in an entry, in a flow list, after a tag, alone
            // on its line, on the entry itself
            "shell: &x /bin/sh\ntasks:\n  - task_id: a\n    entry_point: &x echo\n  - task_id: b\n    entry_point: *x\n",
            "tasks:\n  - task_id: a\n    entry_point: [&x one]\n  - task_id: b\n    entry_point: x\n",
            "tasks:\n  - task_id: a\n    entry_point: !!str &x one\n  - task_id: b\n    entry_point: x\n",
            "tasks:\n  - task_id: a\n    entry_point:\n      &x two\n  - task_id: b\n    entry_point: x\n",
            "tasks:\n  - task_id: a\n  - &e\n    task_id: b\n",
            // one entry only: nothing to cut
            "tasks:\n  - task_id: a\n    cron: x\n",
            // no list at all
            "max_concurrent: 3\n",
        ];
        for text in refused {
            assert_eq!(cut(text, 1), None, "{text:?}");
        }
    }

    #[test]
    fn ampersands_in_commands_and_anchors_in_the_head_still_cut() {
        let text = "defaults:\n  env: &common {A: b}\nshell: &sh /bin/sh\ntasks:\n  - task_id: a\n    entry_point: make && make install &>/dev/null\n    env: *common\n  - task_id: b\n    entry_point: make && make install &>/dev/null &\n    env: *common\n";
        assert!(cut(text, 1).is_some());
    }

    #[test]
    fn the_anchor_scan_is_linear() {
        // Each `&` here would start a name running to the end of the token; the scan
        // must stop at the first, not read the token once per `&`.
        let token = ":&".repeat(200_000);
        let text = format!("tasks:\n  - task_id: a\n  - task_id: b\n    entry_point: x{token}\n");
        assert!(has_anchor(&text));
        let plain = format!(
            "tasks:\n  - task_id: a\n  - task_id: b\n    entry_point: x{}\n",
            "a&".repeat(200_000)
        );
        assert!(!has_anchor(&plain));
        assert!(cut(&plain, 1).is_some());
    }

    #[test]
    fn deeper_dashes_are_not_entries() {
        let text =
            "tasks:\n  - task_id: a\n    entry_point:\n    - /bin/echo\n    - hi\n  - task_id: b\n";
        let p = cut(text, 1).expect("a cut");
        assert_eq!(p.cuts.len(), 1);
        assert_eq!(&text[p.cuts[0]..], "  - task_id: b\n");
    }
}
