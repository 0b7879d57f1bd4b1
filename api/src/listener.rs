//! The listener's own limits: at most so many connections at once, and a deadline for each
//! request head.
//!
//! hyper (as poem runs it) has no header timeout, so a client that sends half a head and
//! stops would hold its connection for ever. Each connection here must deliver a complete
//! request head (up to its blank line) within the read timeout of being accepted or of the
//! server's last write (its previous answer), or it is closed; that also closes idle
//! keep-alive connections. A body that stalls is the handler's to time out (`http`).

use std::io::Result as IoResult;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Accepts connections while fewer than the cap are open; one past the cap is closed at
/// once, so a flood of stalled clients cannot hold more than the cap.
pub struct Capped<A> {
    inner: A,
    slots: Arc<Semaphore>,
    head_timeout: Duration,
}

impl<A> Capped<A> {
    pub fn new(inner: A, cap: usize, head_timeout: Duration) -> Self {
        Capped {
            inner,
            slots: Arc::new(Semaphore::new(cap)),
            head_timeout,
        }
    }
}

impl<A: Acceptor> Acceptor for Capped<A> {
    type Io = CappedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let io = CappedIo {
                        io,
                        _permit: permit,
                        timeout: self.head_timeout,
                        deadline: None,
                        head: HeadEnd::default(),
                        http2: false,
                    };
                    return Ok((io.armed(), local, remote, scheme));
                }
                Err(_) => {
                    metrics::counter!("zeroboard_http_connections_refused_total").increment(1);
                    tracing::debug!(remote = %remote, "connection limit reached; closing a new connection");
                }
            }
        }
    }
}

/// A connection holding one of the cap's slots until it closes, with its head deadline.
pub struct CappedIo<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    /// Set while a request head is awaited; cleared when the head's blank line arrives.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    head: HeadEnd,
    /// HTTP/2 has no heads of this kind, nor has a connection upgraded to a WebSocket;
    /// these keep no deadline.
    http2: bool,
}

impl<T> CappedIo<T> {
    fn armed(mut self) -> Self {
        self.arm();
        self
    }

    /// An answer went out: the next request's head is due within the timeout, unless the
    /// answer switched protocols (a WebSocket), after which no HTTP heads come and the
    /// live connection's own pings and idle timeout govern it.
    fn answered(&mut self, bytes: &[u8]) {
        if bytes.starts_with(b"HTTP/1.1 101 ") {
            self.http2 = true;
            self.deadline = None;
        } else {
            self.arm();
        }
    }

    fn arm(&mut self) {
        if !self.http2 {
            self.deadline = Some(Box::pin(tokio::time::sleep(self.timeout)));
            self.head = HeadEnd::default();
        }
    }
}

/// Finds the blank line (`\r\n\r\n`) that ends a request head, across reads.
#[derive(Default, Clone, Copy)]
struct HeadEnd {
    matched: usize,
}

impl HeadEnd {
    /// Feeds bytes; true once the head's end has been seen.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8] = b"\r\n\r\n";
        for &b in bytes {
            self.matched = if b == END[self.matched] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CappedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if this.deadline.is_some() {
                    if before == 0 && new.starts_with(b"PRI * HTTP/2.0") {
                        this.http2 = true;
                        this.deadline = None;
                    } else if this.head.feed(new) {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    metrics::counter!("zeroboard_http_head_timeouts_total").increment(1);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no complete request head in time",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CappedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered(buf);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<IoResult<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.answered(first);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::HeadEnd;

    #[test]
    fn a_head_ends_at_its_blank_line_across_reads() {
        let cases: [(&[&[u8]], bool); 6] = [
            (&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], true),
            (&[b"GET / HTTP/1.1\r\nHost: x\r\n", b"\r", b"\n"], true),
            (&[b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-"], false),
            (&[b"GET / HTTP/1.1\r\n\r\r\n\r\n"], true),
            (&[b"GET / HTTP/1.1\r\n\n\r\n"], false),
            (&[b"\r\n\r", b"x\r\n"], false),
        ];
        for (reads, ends) in cases {
            let mut head = HeadEnd::default();
            let seen = reads.iter().any(|r| head.feed(r));
            assert_eq!(seen, ends, "{reads:?}");
        }
    }
}
