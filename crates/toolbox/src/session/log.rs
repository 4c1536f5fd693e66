//! The log of one session command, as Daytona keeps it: every line of the combined output starts
//! with the marker of the stream it came from (`\x01\x01\x01` stdout, `\x02\x02\x02` stderr),
//! and each stream is also kept on its own. The marker rules are plain code over three
//! [`Buffer`]s, which keep the bytes in memory or, past the sandbox's log budget, in a spill file
//! (`store.rs`); a log on its own (as in tests) stays in memory.

use super::store::{Buffer, LogBudget, READ_LIMIT};
use std::sync::Arc;

/// Most log bytes a command keeps; later output is read and dropped (the log says so once).
pub(crate) const LOG_LIMIT: usize = 16 << 20;
const STDOUT_MARKER: &[u8] = b"\x01\x01\x01";
const STDERR_MARKER: &[u8] = b"\x02\x02\x02";
/// The line the log ends with once it reached its limit.
const TRUNCATED: &[u8] = b"\x02\x02\x02[sandbar: log truncated]\n";
/// The line the log ends with when the sandbox's log budget (memory and disk) is used up.
const OVER_BUDGET: &[u8] = b"\x02\x02\x02[sandbar: log truncated: the sandbox's session log budget is used up]\n";

/// Which pipe output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The command's stdout (and echoed input).
    Stdout,
    /// The command's stderr.
    Stderr,
}

impl Stream {
    fn marker(self) -> &'static [u8] {
        match self {
            Stream::Stdout => STDOUT_MARKER,
            Stream::Stderr => STDERR_MARKER,
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// The combined, marked log and each stream's own bytes.
#[derive(Debug)]
pub(crate) struct SessionLog {
    limit: usize,
    log: Buffer,
    stdout: Buffer,
    stderr: Buffer,
    /// Whether each stream (stdout, stderr) is in the middle of a line: a chunk that continues
    /// a line gets no new marker.
    mid_line: [bool; 2],
    /// The line the log ends with once it takes no more output (kept apart from the buffers, so
    /// it shows even when the budget has no room left).
    ending: Option<&'static [u8]>,
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog::with_limit(LOG_LIMIT)
    }
}

impl SessionLog {
    /// An empty log that stops keeping output once the combined log holds `limit` bytes (the
    /// chunk that crosses it is kept whole, so no line is cut).
    pub(crate) fn with_limit(limit: usize) -> SessionLog {
        SessionLog::in_budget(limit, Arc::new(LogBudget::unbounded()))
    }

    /// An empty log that counts against (and spills according to) a sandbox's `budget`.
    pub(crate) fn in_budget(limit: usize, budget: Arc<LogBudget>) -> SessionLog {
        SessionLog {
            limit,
            log: Buffer::new(Arc::clone(&budget)),
            stdout: Buffer::new(Arc::clone(&budget)),
            stderr: Buffer::new(budget),
            mid_line: [false; 2],
            ending: None,
        }
    }

    /// Adds a chunk read from `stream`; answers whether the log changed (false once it is full
    /// and says so).
    pub(crate) fn append(&mut self, stream: Stream, bytes: &[u8]) -> bool {
        if self.ending.is_some() {
            return false;
        }
        if self.log.len() >= self.limit {
            self.truncate(TRUNCATED);
            return true;
        }
        let marker = stream.marker();
        let mut marked = Vec::with_capacity(bytes.len() + marker.len());
        let mut mid_line = self.mid_line[stream.index()];
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if !mid_line {
                marked.extend_from_slice(marker);
            }
            marked.extend_from_slice(piece);
            mid_line = !piece.ends_with(b"\n");
        }
        let own = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        if !self.log.append(&marked) || !own.append(bytes) {
            self.truncate(OVER_BUDGET);
            return true;
        }
        self.mid_line[stream.index()] = mid_line;
        true
    }

    /// Ends the log with `line`; nothing more is kept.
    fn truncate(&mut self, line: &'static [u8]) {
        self.ending = Some(line);
    }

    /// The combined log with its markers.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.log.all();
        bytes.extend_from_slice(self.ending.unwrap_or_default());
        bytes
    }

    /// The combined log from byte `from` on, at most [`READ_LIMIT`] bytes of it (empty when
    /// nothing is new).
    pub(crate) fn since(&self, from: usize) -> Vec<u8> {
        if from < self.log.len() {
            return self.log.read(from, READ_LIMIT);
        }
        let ending = self.ending.unwrap_or_default();
        ending[(from - self.log.len()).min(ending.len())..].to_vec()
    }

    /// Stdout alone, as text (invalid UTF-8 replaced).
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.all()).into_owned()
    }

    /// Stderr alone, as text (invalid UTF-8 replaced).
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.all()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(chunks: &[(Stream, &[u8])]) -> SessionLog {
        let mut log = SessionLog::default();
        for (stream, bytes) in chunks {
            assert!(log.append(*stream, bytes));
        }
        log
    }

    #[test]
    fn every_line_starts_with_its_streams_marker() {
        let log = log_of(&[(Stream::Stdout, b"one\ntwo\n"), (Stream::Stderr, b"oops\n")]);
        assert_eq!(log.bytes(), b"\x01\x01\x01one\n\x01\x01\x01two\n\x02\x02\x02oops\n");
        assert_eq!(log.stdout(), "one\ntwo\n");
        assert_eq!(log.stderr(), "oops\n");
    }

    #[test]
    fn a_line_split_across_chunks_gets_one_marker() {
        let log = log_of(&[(Stream::Stdout, b"par"), (Stream::Stdout, b"tial\nnext"), (Stream::Stdout, b" line\n")]);
        assert_eq!(log.bytes(), b"\x01\x01\x01partial\n\x01\x01\x01next line\n");
        assert_eq!(log.stdout(), "partial\nnext line\n");
    }

    #[test]
    fn each_stream_tracks_its_own_line_start() {
        // stdout is mid-line when stderr writes: stderr's line is marked, stdout's continuation
        // is not (the streams are separate pipes, each with its own line state).
        let log = log_of(&[(Stream::Stdout, b"a"), (Stream::Stderr, b"e\n"), (Stream::Stdout, b"b\n")]);
        assert_eq!(log.bytes(), b"\x01\x01\x01a\x02\x02\x02e\nb\n");
        assert_eq!(log.stdout(), "ab\n");
        assert_eq!(log.stderr(), "e\n");
    }

    #[test]
    fn output_without_a_final_newline_is_kept() {
        let log = log_of(&[(Stream::Stderr, b"no newline")]);
        assert_eq!(log.bytes(), b"\x02\x02\x02no newline");
        assert_eq!(log.since(3), b"no newline");
        assert_eq!(log.since(100), b"");
    }

    #[test]
    fn a_full_log_says_so_once_and_keeps_nothing_more() {
        let mut log = SessionLog::with_limit(8);
        assert!(log.append(Stream::Stdout, b"0123456789\n"));
        let full = log.bytes().to_vec();
        assert_eq!(full, b"\x01\x01\x010123456789\n");
        assert!(log.append(Stream::Stderr, b"more\n"), "the first refused chunk adds the truncation line");
        assert!(!log.append(Stream::Stdout, b"and more\n"), "later chunks change nothing");
        let mut expected = full;
        expected.extend_from_slice(TRUNCATED);
        assert_eq!(log.bytes(), &expected[..]);
        assert_eq!(log.stdout(), "0123456789\n");
        assert_eq!(log.stderr(), "", "the streams stop with the log");
    }

    #[test]
    fn invalid_utf8_is_replaced_in_the_stream_texts_only() {
        let log = log_of(&[(Stream::Stdout, b"\xff\n")]);
        assert_eq!(log.bytes(), b"\x01\x01\x01\xff\n");
        assert_eq!(log.stdout(), "\u{fffd}\n");
    }

    #[test]
    fn eight_big_logs_of_one_sandbox_stay_within_its_memory_budget_and_read_back_whole() {
        use super::super::store::{SpillDir, MEMORY_BUDGET};
        let dir = tempfile::tempdir().unwrap();
        let spill = Arc::new(SpillDir::new(dir.path().join("logs")));
        let budget = Arc::new(LogBudget::new(MEMORY_BUDGET, 1 << 30, Some(spill)));
        // 8 commands writing 4 MiB each (lines on stdout, every 16th on stderr), as pipes deliver
        // them: 64 KiB reads.
        let line = |i: usize| format!("{i:07} {}\n", "x".repeat(56)).into_bytes();
        let lines: Vec<Vec<u8>> = (0..(4 << 20) / 64).map(line).collect();
        let mut logs: Vec<SessionLog> = (0..8).map(|_| SessionLog::in_budget(LOG_LIMIT, Arc::clone(&budget))).collect();
        for log in &mut logs {
            for chunk in lines.chunks(1024) {
                let (mut out, mut err) = (Vec::new(), Vec::new());
                for (i, line) in chunk.iter().enumerate() {
                    if i % 16 == 15 { &mut err } else { &mut out }.extend_from_slice(line);
                }
                assert!(log.append(Stream::Stdout, &out));
                assert!(log.append(Stream::Stderr, &err));
            }
            assert!(budget.in_memory() <= MEMORY_BUDGET, "{} bytes in memory", budget.in_memory());
        }
        assert!(budget.on_disk() > 0, "the logs past the budget spilled");
        let (mut stdout, mut stderr, mut marked) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in lines.chunks(1024) {
            let on_stderr = |i: &usize| i % 16 == 15;
            for (i, line) in chunk.iter().enumerate() {
                if on_stderr(&i) { &mut stderr } else { &mut stdout }.extend_from_slice(line);
            }
            // As appended: the chunk's stdout lines, then its stderr lines, each marked.
            for (i, line) in chunk.iter().enumerate() {
                if !on_stderr(&i) {
                    marked.extend_from_slice(STDOUT_MARKER);
                    marked.extend_from_slice(line);
                }
            }
            for (i, line) in chunk.iter().enumerate() {
                if on_stderr(&i) {
                    marked.extend_from_slice(STDERR_MARKER);
                    marked.extend_from_slice(line);
                }
            }
        }
        for log in &logs {
            assert!(log.bytes() == marked, "the marked log reads back whole");
            assert!(log.stdout().as_bytes() == stdout && log.stderr().as_bytes() == stderr);
            // A follower reads it back in bounded pieces.
            let mut followed = Vec::new();
            loop {
                let piece = log.since(followed.len());
                if piece.is_empty() {
                    break;
                }
                assert!(piece.len() <= READ_LIMIT);
                followed.extend(piece);
            }
            assert!(followed == marked);
        }
        drop(logs);
        assert_eq!((budget.in_memory(), budget.on_disk()), (0, 0), "gone logs give back memory and disk");
    }
}
