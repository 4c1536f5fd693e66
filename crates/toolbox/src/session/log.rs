//! The log of one session command, as Daytona keeps it: every line of the combined output starts
//! with the marker of the stream it came from (`\x01\x01\x01` stdout, `\x02\x02\x02` stderr),
//! and each stream is also kept on its own. A plain value with no I/O, so its marker rules are
//! tested directly.

/// Most log bytes a command keeps; later output is read and dropped (the log says so once).
pub(crate) const LOG_LIMIT: usize = 16 << 20;
const STDOUT_MARKER: &[u8] = b"\x01\x01\x01";
const STDERR_MARKER: &[u8] = b"\x02\x02\x02";
/// The line the log ends with once it reached its limit.
const TRUNCATED: &[u8] = b"\x02\x02\x02[sandbar: log truncated]\n";

/// Which pipe output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The command's stdout (and echoed input).
    Stdout,
    /// The command's stderr.
    Stderr,
}

impl Stream {
    /// The stream of the runtime's `stream_output` index (0 stdout, anything else stderr).
    pub(crate) fn of_index(index: usize) -> Stream {
        if index == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        }
    }

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
    log: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Whether each stream (stdout, stderr) is in the middle of a line: a chunk that continues
    /// a line gets no new marker.
    mid_line: [bool; 2],
    truncated: bool,
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
        SessionLog {
            limit,
            log: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            mid_line: [false; 2],
            truncated: false,
        }
    }

    /// Adds a chunk read from `stream`; answers whether the log changed (false once it is full
    /// and says so).
    pub(crate) fn append(&mut self, stream: Stream, bytes: &[u8]) -> bool {
        if self.log.len() >= self.limit {
            if self.truncated {
                return false;
            }
            self.truncated = true;
            self.log.extend_from_slice(TRUNCATED);
            return true;
        }
        let marker = stream.marker();
        let mid_line = &mut self.mid_line[stream.index()];
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if !*mid_line {
                self.log.extend_from_slice(marker);
            }
            self.log.extend_from_slice(piece);
            *mid_line = !piece.ends_with(b"\n");
        }
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
        .extend_from_slice(bytes);
        true
    }

    /// The combined log with its markers.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.log
    }

    /// The combined log from byte `from` on (empty when nothing is new).
    pub(crate) fn since(&self, from: usize) -> &[u8] {
        &self.log[from.min(self.log.len())..]
    }

    /// Stdout alone, as text (invalid UTF-8 replaced).
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr alone, as text (invalid UTF-8 replaced).
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
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
}
