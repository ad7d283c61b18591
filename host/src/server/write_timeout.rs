//! The slow-read guard: a viewer connection whose writes make no progress for
//! `[server] send_timeout_ms` is failed, so a viewer that asks for a large response and
//! then stops reading does not hold its connection, its buffers and an origin connection
//! for as long as it likes (nginx's `send_timeout`).
//!
//! Each wait is timed from the write that first found the socket full; a connection
//! whose writes never block never allocates the timer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::park::ParkableIo;
use crate::util::IdleTimer;

/// `inner` with a limit on how long a write may wait.
pub(super) struct WriteTimeout<I> {
    inner: I,
    wait: IdleTimer,
}

impl<I> WriteTimeout<I> {
    pub(super) fn new(inner: I, limit: Duration) -> Self {
        Self {
            inner,
            wait: IdleTimer::new(limit),
        }
    }

    pub(super) fn get_ref(&self) -> &I {
        &self.inner
    }

    /// Passes a write's result on, failing it once it has waited past the limit.
    fn account<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending if self.wait.poll_expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the viewer read nothing for {:?}", self.wait.idle()),
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.wait.progressed();
                ready
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.account(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.account(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.account(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.account(cx, result)
    }
}

impl<I: ParkableIo> ParkableIo for WriteTimeout<I> {
    fn socket(&self) -> &TcpStream {
        self.inner.socket()
    }

    fn release_idle_buffers(&mut self) {
        self.inner.release_idle_buffers()
    }
}
