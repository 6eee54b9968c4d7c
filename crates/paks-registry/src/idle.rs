//! Idle timeouts that do not hold a thread: a connection whose client stops taking the
//! answer, and a request body whose client stops sending, fail after a while without a
//! byte, instead of holding memory (and, before, a blocking thread) for ever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Starts (once) and polls the stall timer; ready when it ran out.
fn stalled(timer: &mut Option<Pin<Box<Sleep>>>, idle: Duration, cx: &mut Context<'_>) -> bool {
    timer
        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)))
        .as_mut()
        .poll(cx)
        .is_ready()
}

/// A connection whose writes fail with `TimedOut` once the peer has taken no byte for
/// `idle`. Reads are not timed here: hyper times request heads, [`IdleBody`] bodies.
pub struct IdleIo<T> {
    inner: T,
    idle: Duration,
    write_stall: Option<Pin<Box<Sleep>>>,
}

impl<T> IdleIo<T> {
    pub fn new(inner: T, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            write_stall: None,
        }
    }

    fn on_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => {
                if stalled(&mut self.write_stall, self.idle, cx) {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client took no byte for {} s", self.idle.as_secs()),
                    )))
                } else {
                    Poll::Pending
                }
            }
            ready @ Poll::Ready(_) => {
                self.write_stall = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.on_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.on_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.on_write(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The error of a body whose client sent nothing for too long.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no byte of the request body for {} s", .0.as_secs())]
pub struct BodyStalled(pub Duration);

/// A request body that fails with [`BodyStalled`] once no byte arrived for `idle`.
pub struct IdleBody {
    inner: Body,
    idle: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl IdleBody {
    pub fn wrap(inner: Body, idle: Duration) -> Body {
        if http_body::Body::is_end_stream(&inner) {
            return inner;
        }
        Body::new(Self {
            inner,
            idle,
            stall: None,
        })
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if stalled(&mut this.stall, this.idle, cx) {
                    Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.idle)))))
                } else {
                    Poll::Pending
                }
            }
            ready @ Poll::Ready(_) => {
                this.stall = None;
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
