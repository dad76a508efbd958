//! Splitting a child's output into lines for the log, with a per-run cap.

/// Bytes of output logged per run; past this, one "output truncated" line.
pub const LOG_CAP: usize = 1024 * 1024;
/// Bytes of output kept for the run's history record.
pub const TAIL_BYTES: usize = 4096;
/// A line longer than this is logged in pieces, so one endless line cannot grow memory.
const MAX_LINE: usize = 16 * 1024;

/// Accumulates one stream's bytes and hands out complete lines.
#[derive(Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes; calls `emit` for each complete line (without its newline).
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if let Some(line) = piece.strip_suffix(b"\n") {
                if self.pending.is_empty() {
                    emit(line);
                } else {
                    self.pending.extend_from_slice(line);
                    emit(&self.pending);
                    self.pending.clear();
                }
            } else {
                self.pending.extend_from_slice(piece);
                while self.pending.len() >= MAX_LINE {
                    emit(&self.pending[..MAX_LINE]);
                    self.pending.drain(..MAX_LINE);
                }
            }
        }
    }

    /// Hands out what is left when the stream ends without a final newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// The budget of logged bytes for one run, and the tail kept for history (empty until
/// the run prints: most print nothing).
#[derive(Default)]
pub struct Budget {
    logged: usize,
    truncated: bool,
    tail: Vec<u8>,
}

/// What to do with a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Log,
    /// The cap was just reached: log "output truncated" once.
    Truncate,
    Drop,
}

impl Budget {
    /// Accounts for a line and says whether to log it.
    pub fn take(&mut self, line: &[u8]) -> Verdict {
        self.keep_tail(line);
        if self.truncated {
            return Verdict::Drop;
        }
        if self.logged + line.len() + 1 > LOG_CAP {
            self.truncated = true;
            return Verdict::Truncate;
        }
        self.logged += line.len() + 1;
        Verdict::Log
    }

    fn keep_tail(&mut self, line: &[u8]) {
        let line = &line[line.len().saturating_sub(TAIL_BYTES)..];
        let excess = (self.tail.len() + line.len() + 1).saturating_sub(TAIL_BYTES);
        self.tail.drain(..excess.min(self.tail.len()));
        self.tail.extend_from_slice(line);
        self.tail.push(b'\n');
    }

    /// The last output, lossily decoded.
    pub fn tail(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let mut buf = LineBuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            buf.push(c, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        buf.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        assert_eq!(
            lines(&[b"ab", b"c\nde", b"f\n\ng"]),
            ["abc", "def", "", "g"]
        );
    }

    #[test]
    fn endless_line_is_cut_into_pieces() {
        let big = vec![b'x'; MAX_LINE * 2 + 5];
        let got = lines(&[&big]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[2].len(), 5);
    }

    #[test]
    fn budget_truncates_once_and_keeps_the_tail() {
        let mut b = Budget::default();
        let line = vec![b'a'; 1023];
        let verdicts: Vec<Verdict> = (0..1100).map(|_| b.take(&line)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Log).count(),
            1024
        );
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Truncate).count(),
            1
        );
        assert_eq!(verdicts[1024], Verdict::Truncate);
        b.take(b"last line");
        assert!(b.tail().ends_with("last line\n"));
        assert!(b.tail().len() <= TAIL_BYTES);
    }
}
