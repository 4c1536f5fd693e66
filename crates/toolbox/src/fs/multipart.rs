//! A bound on the parts of an upload's multipart body that the parser must hold before it can
//! hand anything on: the preamble and each part's header block. Upload bodies have no size limit
//! (files stream to disk), and the parser keeps searching its buffer for the end of a header
//! block, so one endless header line would grow the server without bound. [`HeadBound`] watches
//! the bytes on their way to the parser and fails the body once a header block (or the preamble)
//! passes [`HEAD_LIMIT`]; part data passes unlimited.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::Stream;

/// Most bytes of a preamble or of one part's header block.
pub(crate) const HEAD_LIMIT: usize = 64 << 10;
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

/// Where the watched body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the first delimiter, or in a header block: bounded.
    Head { found_delimiter: bool },
    /// In a part's data: unbounded, until the next delimiter.
    Data,
}

/// The state of one watched body.
pub(crate) struct HeadBound {
    /// `\r\n--boundary`: what starts every delimiter line.
    delimiter: Vec<u8>,
    at: At,
    /// Bytes of the current bounded stretch so far.
    held: usize,
    /// The end of the previous chunk, which may hold the start of a pattern.
    carry: Vec<u8>,
}

impl HeadBound {
    pub(crate) fn new(boundary: &str) -> HeadBound {
        // The body's first delimiter has no CRLF before it: a virtual one is fed first.
        HeadBound {
            delimiter: [b"\r\n--", boundary.as_bytes()].concat(),
            at: At::Head { found_delimiter: false },
            held: 0,
            carry: b"\r\n".to_vec(),
        }
    }

    /// Watches one chunk; an error once a bounded stretch passes the limit. The chunk is
    /// searched where it lies; only a pattern that may straddle the previous chunk's end is
    /// looked for in a small copy.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let longest = self.delimiter.len().max(END_OF_HEAD.len());
        if chunk.len() < 2 * longest {
            let mut bytes = std::mem::take(&mut self.carry);
            bytes.extend_from_slice(chunk);
            return self.scan(&bytes);
        }
        let mut from = 0;
        if !self.carry.is_empty() {
            let carried = std::mem::take(&mut self.carry);
            let mut joined = carried.clone();
            joined.extend_from_slice(&chunk[..self.pattern().len() - 1]);
            match find(&joined, self.pattern()) {
                // A match that starts in the carried bytes ends in this chunk.
                Some(found) => {
                    let end = found + self.pattern().len() - carried.len();
                    self.matched(found)?;
                    from = end;
                }
                None => self.count(carried.len())?,
            }
        }
        self.scan(&chunk[from..])
    }

    /// The pattern that ends the current stretch.
    fn pattern(&self) -> &[u8] {
        match self.at {
            At::Head { found_delimiter: true } => END_OF_HEAD,
            At::Head { found_delimiter: false } | At::Data => &self.delimiter,
        }
    }

    /// Adds `bytes` to the current stretch (counted only when it is bounded).
    fn count(&mut self, bytes: usize) -> Result<(), String> {
        if self.at != At::Data {
            self.held += bytes;
        }
        self.check()
    }

    /// The current pattern was found after `before` more bytes of the stretch: the next begins.
    fn matched(&mut self, before: usize) -> Result<(), String> {
        self.count(before)?;
        self.held = 0;
        self.at = match self.at {
            At::Head { found_delimiter: true } => At::Data,
            At::Head { found_delimiter: false } | At::Data => At::Head { found_delimiter: true },
        };
        Ok(())
    }

    /// Watches `bytes` (the carry already in them); keeps a new carry.
    fn scan(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            let Some(found) = find(rest, self.pattern()) else {
                let keep = rest.len().min(self.pattern().len() - 1);
                self.count(rest.len() - keep)?;
                self.carry = rest[rest.len() - keep..].to_vec();
                return Ok(());
            };
            let length = self.pattern().len();
            self.matched(found)?;
            at += found + length;
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.held > HEAD_LIMIT {
            let what = match self.at {
                At::Head { found_delimiter: true } => "a part's header block",
                _ => "the multipart preamble",
            };
            return Err(format!("{what} is longer than {HEAD_LIMIT} bytes"));
        }
        Ok(())
    }
}

/// Where `needle` first starts in `haystack` (a scan for its first byte, then a compare).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(offset) = haystack[start..].iter().position(|b| *b == needle[0]) {
        let at = start + offset;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// The boundary of a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|param| {
        let value = param.strip_prefix("boundary=")?;
        Some(value.trim_matches('"').to_string()).filter(|b| !b.is_empty())
    })
}

/// `request`'s body as [`Multipart`], with its preamble and part headers bounded.
pub(crate) async fn bounded(request: Request) -> Result<Multipart, String> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(boundary_of)
        .ok_or("the body is not multipart/form-data with a boundary")?;
    let (parts, body) = request.into_parts();
    let body = watch(body.into_data_stream(), HeadBound::new(&boundary));
    let request = Request::from_parts(parts, axum::body::Body::from_stream(body));
    Multipart::from_request(request, &()).await.map_err(|e| format!("invalid multipart body: {e}"))
}

/// Bytes handed on before the watched body makes its reader wait a turn.
const TURN: usize = 256 << 10;

/// `chunks`, ended with an error once `bound` refuses them. Every [`TURN`] bytes it answers
/// "not ready" once (and wakes its reader at once): the parser reads all that is ready into its
/// buffer before it hands anything on, so a client sending faster than a file is written would
/// otherwise grow that buffer.
fn watch(
    chunks: impl Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
    bound: HeadBound,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    Watched { chunks: Box::pin(chunks), bound: Some(bound), since_turn: 0 }
}

struct Watched<S> {
    chunks: std::pin::Pin<Box<S>>,
    /// `None` once the body was refused (it ends).
    bound: Option<HeadBound>,
    since_turn: usize,
}

impl<S: Stream<Item = Result<Bytes, axum::Error>>> Stream for Watched<S> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        let Some(bound) = this.bound.as_mut() else { return Poll::Ready(None) };
        if this.since_turn >= TURN {
            this.since_turn = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.chunks.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.since_turn += bytes.len();
                match bound.feed(&bytes) {
                    Ok(()) => Poll::Ready(Some(Ok(bytes))),
                    Err(refused) => {
                        this.bound = None;
                        Poll::Ready(Some(Err(std::io::Error::other(refused))))
                    }
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                this.since_turn = 0;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, data) in parts {
            body.extend(format!("--XB\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            body.extend(*data);
            body.extend(b"\r\n");
        }
        body.extend(b"--XB--\r\n");
        body
    }

    #[test]
    fn data_of_any_size_passes_in_chunks_of_any_size() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * HEAD_LIMIT).collect();
        let body = body(&[("files[0].path", b"/a"), ("files[0].file", &data), ("files[1].file", b"\r\n--X")]);
        for size in [1, 2, 5, 47, 48, 49, 4095, 4096, 4097, body.len()] {
            let mut bound = HeadBound::new("XB");
            for chunk in body.chunks(size) {
                bound.feed(chunk).unwrap_or_else(|e| panic!("chunks of {size}: {e}"));
            }
        }
    }

    #[test]
    fn an_endless_header_block_or_preamble_is_refused() {
        let mut bound = HeadBound::new("XB");
        bound.feed(b"--XB\r\nContent-Disposition: form-data; name=\"").unwrap();
        let endless = vec![b'a'; 4096];
        let refused = (0..100).find_map(|_| bound.feed(&endless).err()).expect("refused within 400 KiB");
        assert!(refused.contains("header block") && refused.len() < 100, "{refused}");
        let mut preamble = HeadBound::new("XB");
        let refused = (0..100).find_map(|_| preamble.feed(&endless).err()).expect("refused within 400 KiB");
        assert!(refused.contains("preamble"), "{refused}");
    }

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(boundary_of("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary_of("multipart/form-data;boundary=\"a b\"; charset=x").as_deref(), Some("a b"));
        assert_eq!(boundary_of("multipart/form-data"), None);
    }
}
