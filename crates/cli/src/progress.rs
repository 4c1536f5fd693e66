//! Shows a long image build on the terminal: step headers always, command output as one
//! rewritten status line on a TTY or as plain lines in logs.

use sandbar_runtime::BuildProgress;
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct TerminalProgress {
    started: Instant,
    tty: bool,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress { started: Instant::now(), tty: std::io::stderr().is_terminal() }
    }
}

impl BuildProgress for TerminalProgress {
    fn step(&mut self, step: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "[{:>5.1}s] {step}", self.started.elapsed().as_secs_f64());
    }

    fn line(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let short: String = line.chars().take(100).collect();
            let _ = write!(err, "\r\x1b[2K        {short}");
        } else {
            let _ = writeln!(err, "        {line}");
        }
    }
}
