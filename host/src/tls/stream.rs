//! The viewer side of TLS on rustls's unbuffered API: the stream owns its ciphertext and
//! plaintext buffers, so an idle connection can hand them back ([`ServerTls::release_idle_buffers`]).
//! rustls's buffered connection (and so tokio-rustls) keeps a zero-filled 4 KiB read
//! buffer for the connection's whole life: a third of what a parked keep-alive connection
//! cost. Also one copy fewer per read (records are decrypted in place and copied straight
//! into the reader's buffer) and no allocation per write (records are sealed into one
//! reused buffer).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The largest TLS record on the wire (16 KiB of payload plus header and expansion).
const MAX_RECORD: usize = 5 + (1 << 14) + 256;
/// The most ciphertext kept while rustls joins a handshake message from several records
/// (the message itself is at most 64 KiB).
const MAX_HANDSHAKE_CIPHERTEXT: usize = 0xffff + MAX_RECORD;
/// How much ciphertext a read asks the socket for when no record length is known yet.
const READ_CHUNK: usize = 4096;
/// Ciphertext waiting for the socket beyond which writes wait for it to drain.
const WRITE_HIGH_WATER: usize = 64 << 10;
/// Plaintext sealed per write call at most.
const WRITE_MAX: usize = 64 << 10;
/// Plaintext gathered from a vectored write into one record.
const GATHER: usize = 1 << 14;

thread_local! {
    /// The server name the certificate resolver saw in the ClientHello being processed on
    /// this thread: rustls's unbuffered server connection does not expose it, and the
    /// resolver runs synchronously inside [`ServerTls`]'s call into rustls.
    static SEEN_SERVER_NAME: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// Where a vectored write's small pieces are gathered into one record: one buffer per
    /// thread, so connections keep none and nothing is zeroed per write.
    static GATHERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Called by the certificate resolver with the ClientHello's server name (lower-case).
pub(crate) fn note_server_name(name: Option<&str>) {
    SEEN_SERVER_NAME.with(|seen| *seen.borrow_mut() = name.map(Arc::from));
}

fn take_seen_server_name() -> Option<Arc<str>> {
    SEEN_SERVER_NAME.with(|seen| seen.borrow_mut().take())
}

/// A server-side TLS connection over TCP.
pub struct ServerTls {
    tcp: TcpStream,
    conn: UnbufferedServerConnection,
    server_name: Option<Arc<str>>,
    /// Ciphertext from the socket: `incoming[..received]` is unprocessed (records are
    /// decrypted in place and discarded from the front); the rest is zeroed room.
    incoming: Vec<u8>,
    received: usize,
    /// Decrypted application data the reader had no room for: `plain[plain_read..]`.
    plain: Vec<u8>,
    plain_read: usize,
    /// Ciphertext for the socket: `outgoing[sent..]` is still to go.
    outgoing: Vec<u8>,
    sent: usize,
    /// The viewer sent close_notify or closed its side: no more application data.
    read_closed: bool,
    /// We sent (queued) close_notify.
    close_notify_queued: bool,
}

impl ServerTls {
    /// Performs the handshake on `tcp` (time it out from outside).
    pub async fn accept(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<Self> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut tls = ServerTls {
            tcp,
            conn,
            server_name: None,
            incoming: Vec::new(),
            received: 0,
            plain: Vec::new(),
            plain_read: 0,
            outgoing: Vec::new(),
            sent: 0,
            read_closed: false,
            close_notify_queued: false,
        };
        loop {
            take_seen_server_name();
            let pumped = tls.pump(None);
            if let Some(name) = take_seen_server_name() {
                tls.server_name = Some(name);
            }
            pumped?;
            poll_fn(|cx| tls.poll_send_outgoing(cx)).await?;
            if !tls.conn.is_handshaking() {
                return Ok(tls);
            }
            if tls.read_closed || !poll_fn(|cx| tls.poll_fill(cx)).await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the viewer closed the connection during the TLS handshake",
                ));
            }
        }
    }

    /// The server name the viewer asked for (SNI), lower-case.
    pub fn server_name(&self) -> Option<&Arc<str>> {
        self.server_name.as_ref()
    }

    /// The protocol ALPN chose.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn.protocol_version()
    }

    pub fn negotiated_cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// The socket underneath.
    pub fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// Frees the buffers that hold nothing: for a connection about to wait a long time
    /// for its viewer. They are allocated again when traffic resumes.
    pub fn release_idle_buffers(&mut self) {
        if self.received == 0 {
            self.incoming = Vec::new();
        }
        if self.plain_read == self.plain.len() {
            self.plain = Vec::new();
            self.plain_read = 0;
        }
        if self.sent == self.outgoing.len() {
            self.outgoing = Vec::new();
            self.sent = 0;
        }
    }

    /// Bytes of memory the buffers hold (for tests and metrics).
    pub fn buffered_capacity(&self) -> usize {
        self.incoming.capacity() + self.plain.capacity() + self.outgoing.capacity()
    }

    /// Runs rustls over the received ciphertext until it needs more from the socket (or
    /// the connection closed): handshake messages are answered into `outgoing`,
    /// application data goes to `into` as far as it has room, the rest to `plain`.
    fn pump(&mut self, mut into: Option<&mut ReadBuf<'_>>) -> io::Result<()> {
        loop {
            match self.step(&mut into, None)? {
                Step::Continue => continue,
                Step::Blocked | Step::Sent => return Ok(()),
                Step::Closed => {
                    self.read_closed = true;
                    return Ok(());
                }
            }
        }
    }

    /// Seals `outbound` into `outgoing`, first dealing with whatever rustls has to do.
    fn send(&mut self, outbound: Outbound<'_>) -> io::Result<()> {
        loop {
            match self.step(&mut None, Some(outbound))? {
                Step::Sent => return Ok(()),
                Step::Continue => continue,
                Step::Closed => self.read_closed = true,
                Step::Blocked => {
                    return Err(io::Error::other(
                        "cannot send before the TLS handshake is done",
                    ));
                }
            }
        }
    }

    /// One call into rustls and the handling of the state it returns.
    fn step(
        &mut self,
        into: &mut Option<&mut ReadBuf<'_>>,
        outbound: Option<Outbound<'_>>,
    ) -> io::Result<Step> {
        let status = self
            .conn
            .process_tls_records(&mut self.incoming[..self.received]);
        let mut discard = status.discard;
        let step = match status.state {
            Err(e) => Err(e),
            Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                let mut step = Ok(Step::Continue);
                while let Some(record) = traffic.next_record() {
                    match record {
                        Ok(record) => {
                            discard += record.discard;
                            deliver(record.payload, into, &mut self.plain);
                        }
                        Err(e) => {
                            step = Err(e);
                            break;
                        }
                    }
                }
                step
            }
            Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                append_sealed(&mut self.outgoing, 1024, |out| match encode.encode(out) {
                    Ok(n) => Ok(n),
                    Err(EncodeError::InsufficientSize(s)) => Err(Some(s.required_size)),
                    Err(_) => Err(None),
                })
                .map(|()| Step::Continue)
                .map_err(|()| rustls::Error::General("TLS record encoding failed".into()))
            }
            // Queued in `outgoing`, which goes out in order before anything later.
            Ok(ConnectionState::TransmitTlsData(transmit)) => {
                transmit.done();
                Ok(Step::Continue)
            }
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) if outbound.is_none() => {
                Ok(Step::Closed)
            }
            Ok(ConnectionState::PeerClosed) => Ok(Step::Closed),
            Ok(ConnectionState::Closed) => Err(rustls::Error::General(
                "the TLS connection is closed".into(),
            )),
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match outbound {
                None => Ok(Step::Blocked),
                Some(outbound) => {
                    append_sealed(&mut self.outgoing, outbound.sealed_size(), |out| {
                        let sealed = match outbound {
                            Outbound::Data(data) => traffic.encrypt(data, out),
                            Outbound::CloseNotify => traffic.queue_close_notify(out),
                        };
                        match sealed {
                            Ok(n) => Ok(n),
                            Err(EncryptError::InsufficientSize(s)) => Err(Some(s.required_size)),
                            Err(_) => Err(None),
                        }
                    })
                    .map(|()| Step::Sent)
                    .map_err(|()| rustls::Error::General("TLS encryption failed".into()))
                }
            },
            Ok(ConnectionState::BlockedHandshake) => Ok(Step::Blocked),
            Ok(other) => Err(rustls::Error::General(format!(
                "unexpected TLS state {other:?}"
            ))),
        };
        self.discard(discard);
        step.map_err(|e| {
            self.queue_alert();
            tls_error(e)
        })
    }

    /// After a fatal error, encodes the alert rustls queued, if any, and sends it with
    /// whatever else is queued if the socket takes it now: the caller is about to drop
    /// the connection, and the viewer should learn why (a bad record MAC, say).
    fn queue_alert(&mut self) {
        // The same buffer as before: rustls resumes at offsets into it (an empty slice
        // panics when a partly joined handshake message is pending).
        let status = self
            .conn
            .process_tls_records(&mut self.incoming[..self.received]);
        let discard = status.discard;
        if let Ok(ConnectionState::EncodeTlsData(mut encode)) = status.state {
            let _ = append_sealed(&mut self.outgoing, 1024, |out| {
                encode.encode(out).map_err(|e| match e {
                    EncodeError::InsufficientSize(s) => Some(s.required_size),
                    _ => None,
                })
            });
        }
        self.discard(discard);
        if let Ok(n) = self.tcp.try_write(&self.outgoing[self.sent..]) {
            self.sent += n;
        }
    }

    fn discard(&mut self, n: usize) {
        if n > 0 {
            self.incoming.copy_within(n..self.received, 0);
            self.received -= n;
        }
    }

    /// Reads ciphertext from the socket; `false` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let want = match self.incoming.get(..self.received) {
            // A record header tells how much the whole record needs (rustls refuses
            // a length beyond the maximum before the record arrives).
            Some(&[_, _, _, hi, lo, ..]) => {
                (5 + u16::from_be_bytes([hi, lo]) as usize).min(MAX_RECORD)
            }
            _ => 0,
        };
        // Complete records stay here only while they make up a handshake message that
        // spans several of them: read on a chunk at a time. rustls bounds the message
        // at 64 KiB, not the records carrying it (a peer could send it a byte a record),
        // so the ciphertext is bounded here, as rustls's buffered reader does.
        if self.received >= MAX_HANDSHAKE_CIPHERTEXT {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS handshake message spread over too many records",
            )));
        }
        let room = want.max(self.received + READ_CHUNK);
        if self.incoming.len() < room {
            self.incoming.resize(room, 0);
        }
        let mut buf = ReadBuf::new(&mut self.incoming[self.received..]);
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.received += n;
        Poll::Ready(Ok(n > 0))
    }

    /// Sends `outgoing` until it is empty.
    fn poll_send_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Accepts up to [`WRITE_MAX`] bytes of `data` once earlier ciphertext has drained
    /// below the high-water mark.
    fn poll_write_plain(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.outgoing.len() - self.sent >= WRITE_HIGH_WATER {
            ready!(self.poll_send_outgoing(cx))?;
        }
        let data = &data[..data.len().min(WRITE_MAX)];
        self.send(Outbound::Data(data))?;
        // Sent now if the socket takes it; otherwise it goes with the next write or flush.
        if let Poll::Ready(Err(e)) = self.poll_send_outgoing(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }
}

/// Where one [`ServerTls::step`] left the connection.
enum Step {
    /// rustls has more to do.
    Continue,
    /// rustls needs more ciphertext from the viewer.
    Blocked,
    /// The outbound data or alert was sealed into `outgoing`.
    Sent,
    /// The viewer will send no more application data.
    Closed,
}

/// What to seal for the viewer.
#[derive(Clone, Copy)]
enum Outbound<'a> {
    Data(&'a [u8]),
    CloseNotify,
}

impl Outbound<'_> {
    /// Room for the sealed records: each adds a header, a tag and a content type.
    fn sealed_size(self) -> usize {
        match self {
            Outbound::Data(data) => data.len() + (data.len() / (1 << 14) + 1) * 64,
            Outbound::CloseNotify => 64,
        }
    }
}

/// Copies a record's payload to the reader as far as it has room, the rest to `plain`.
fn deliver(payload: &[u8], into: &mut Option<&mut ReadBuf<'_>>, plain: &mut Vec<u8>) {
    let mut rest = payload;
    if plain.is_empty()
        && let Some(buf) = into
    {
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        rest = &rest[n..];
    }
    plain.extend_from_slice(rest);
}

/// Appends what `write` puts into a slice to `out`; `write` fails with the size it
/// needs (`Some`) when the slice is too small, and the slice is grown to it.
fn append_sealed(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), ()> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(size)) if size > room => room = size,
            Err(_) => {
                out.truncate(start);
                return Err(());
            }
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl AsyncRead for ServerTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.plain_read < this.plain.len() {
                let pending = &this.plain[this.plain_read..];
                let n = pending.len().min(buf.remaining());
                buf.put_slice(&pending[..n]);
                this.plain_read += n;
                if this.plain_read == this.plain.len() {
                    this.plain.clear();
                    this.plain_read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.read_closed || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            this.pump(Some(buf))?;
            if this.sent < this.outgoing.len() {
                // Answers to the viewer's handshake messages (a key update, say).
                if let Poll::Ready(Err(e)) = this.poll_send_outgoing(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
            if !this.plain.is_empty() || this.read_closed {
                continue;
            }
            if !ready!(this.poll_fill(cx))? {
                this.read_closed = true;
                if this.received > 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the viewer closed the connection in the middle of a TLS record",
                    )));
                }
            }
        }
    }
}

impl AsyncWrite for ServerTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_plain(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut pieces = bufs.iter().filter(|b| !b.is_empty());
        let Some(first) = pieces.next() else {
            return Poll::Ready(Ok(0));
        };
        if first.len() >= GATHER || pieces.next().is_none() {
            return this.poll_write_plain(cx, first);
        }
        // Small pieces (hyper's head, a chunk-size line, the body) gathered into one
        // record, as rustls's buffered writer does: a record per piece costs its header
        // and tag on the wire and a seal each.
        GATHERED.with_borrow_mut(|gathered| {
            gathered.clear();
            for slice in bufs {
                let n = slice.len().min(GATHER - gathered.len());
                gathered.extend_from_slice(&slice[..n]);
                if gathered.len() == GATHER {
                    break;
                }
            }
            this.poll_write_plain(cx, gathered)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send_outgoing(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_notify_queued {
            this.close_notify_queued = true;
            this.send(Outbound::CloseNotify)?;
        }
        ready!(this.poll_send_outgoing(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    struct Pair {
        server: ServerTls,
        client: tokio_rustls::client::TlsStream<TcpStream>,
    }

    fn configs(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
        let cert = rcgen::generate_simple_self_signed(vec!["stream.test".into()]).unwrap();
        let der = CertificateDer::from(cert.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        (Arc::new(server), Arc::new(client))
    }

    /// A listener whose first connection is handed to [`ServerTls::accept`], and a
    /// connected client socket; the handshake's result comes from the task.
    async fn listen(
        server_config: Arc<ServerConfig>,
    ) -> (TcpStream, tokio::task::JoinHandle<io::Result<ServerTls>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            ServerTls::accept(server_config, tcp).await
        });
        (TcpStream::connect(addr).await.unwrap(), accept)
    }

    async fn pair_with(
        server_config: Arc<ServerConfig>,
        client_config: Arc<rustls::ClientConfig>,
    ) -> Pair {
        let (tcp, accept) = listen(server_config).await;
        let connector = tokio_rustls::TlsConnector::from(client_config);
        let name = ServerName::try_from("stream.test").unwrap();
        let client = connector.connect(name, tcp).await.unwrap();
        Pair {
            server: accept.await.unwrap().unwrap(),
            client,
        }
    }

    async fn pair(versions: &[&'static rustls::SupportedProtocolVersion]) -> Pair {
        let (server_config, client_config) = configs(versions);
        pair_with(server_config, client_config).await
    }

    /// The client sends `request` and the server reads it; the server answers `answer`
    /// and the client reads that.
    async fn round_trip(p: &mut Pair, request: &[u8], answer: &[u8]) {
        p.client.write_all(request).await.unwrap();
        p.client.flush().await.unwrap();
        let mut got = vec![0; request.len()];
        p.server.read_exact(&mut got).await.unwrap();
        assert!(got == request, "the server read the request");
        p.server.write_all(answer).await.unwrap();
        p.server.flush().await.unwrap();
        let mut got = vec![0; answer.len()];
        p.client.read_exact(&mut got).await.unwrap();
        assert!(got == answer, "the client read the answer");
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[tokio::test]
    async fn handshake_reports_alpn_version_and_suite() {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let p = pair(versions).await;
            assert_eq!(p.server.alpn_protocol(), Some(&b"http/1.1"[..]));
            assert_eq!(
                p.server.protocol_version(),
                Some(versions[0].version),
                "negotiated version"
            );
            assert!(p.server.negotiated_cipher_suite().is_some());
        }
    }

    #[tokio::test]
    async fn large_transfers_both_ways_through_small_reads() {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let Pair { mut server, client } = pair(versions).await;
            let up = pattern(1 << 20, 7);
            let down = pattern(3 << 19, 11);
            let (up2, down2) = (up.clone(), down.clone());
            let client_side = tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(client);
                let writer = tokio::spawn(async move {
                    w.write_all(&up2).await.unwrap();
                    w.flush().await.unwrap();
                    w
                });
                let mut got = vec![0; down2.len()];
                r.read_exact(&mut got).await.unwrap();
                assert!(got == down2, "client received what the server sent");
                writer.await.unwrap();
            });
            // Odd-sized reads leave parts of records for the next read.
            let mut got = Vec::new();
            let mut chunk = [0u8; 1000];
            let writer_data = down.clone();
            let (mut r, mut w) = tokio::io::split(&mut server);
            let write = async {
                for piece in writer_data.chunks(70_001) {
                    w.write_all(piece).await.unwrap();
                }
                w.flush().await.unwrap();
            };
            let read = async {
                while got.len() < up.len() {
                    let n = r.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "early EOF");
                    got.extend_from_slice(&chunk[..n]);
                }
            };
            tokio::join!(write, read);
            assert!(got == up, "server received what the client sent");
            client_side.await.unwrap();
        }
    }

    #[tokio::test]
    async fn traffic_continues_across_key_updates() {
        let mut p = pair(&[&rustls::version::TLS13]).await;
        for round in 0..3u8 {
            // A KeyUpdate asking the server to update its keys too: the server must
            // read on with the client's new keys, and its own KeyUpdate (rustls
            // answers inside the traffic state) must reach the client before the
            // records sealed with its new keys.
            p.client.get_mut().1.refresh_traffic_keys().unwrap();
            round_trip(&mut p, &pattern(100, round), &pattern(20_000, round)).await;
        }
    }

    #[tokio::test]
    async fn vectored_writes_arrive_in_order() {
        let Pair {
            mut server,
            mut client,
        } = pair(&[&rustls::version::TLS13]).await;
        let big = pattern(40_000, 3);
        let parts: [&[u8]; 4] = [b"HTTP/1.1 200 OK\r\n\r\n", b"", b"9c40\r\n", &big];
        let mut expected = Vec::new();
        for p in parts {
            expected.extend_from_slice(p);
        }
        let mut slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            let n = server.write_vectored(slices).await.unwrap();
            io::IoSlice::advance_slices(&mut slices, n);
        }
        server.flush().await.unwrap();
        let mut got = vec![0; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        assert!(got == expected);
    }

    #[tokio::test]
    async fn idle_buffers_are_released_and_traffic_resumes() {
        let mut p = pair(&[&rustls::version::TLS13]).await;
        for round in 0..3u8 {
            round_trip(&mut p, &pattern(300, round), b"answer").await;
            assert!(p.server.buffered_capacity() > 0, "buffers in use");
            p.server.release_idle_buffers();
            assert_eq!(
                p.server.buffered_capacity(),
                0,
                "an idle connection holds no buffers"
            );
        }
    }

    #[tokio::test]
    async fn a_waiting_read_returns_data_that_arrives_later() {
        let Pair {
            mut server,
            mut client,
        } = pair(&[&rustls::version::TLS13]).await;
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            // The read starts before anything is sent, so it must wait and then return.
            let n = server.read(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        tokio::task::yield_now().await;
        client.write_all(b"late request").await.unwrap();
        client.flush().await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
            .await
            .expect("the read returned the data it was woken for")
            .unwrap();
        assert_eq!(got, b"late request");
    }

    #[tokio::test]
    async fn close_notify_both_ways() {
        let Pair {
            mut server,
            mut client,
        } = pair(&[&rustls::version::TLS13]).await;
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.write_all(b"late").await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"late");
    }

    #[tokio::test]
    async fn a_client_hello_spanning_several_records() {
        let (server_config, client_config) = configs(&[&rustls::version::TLS13]);
        // ~40 KiB of ALPN names make a ClientHello that rustls sends in three records.
        let mut client_config = (*client_config).clone();
        client_config.alpn_protocols = (0..200u8)
            .map(|i| vec![b'a' + i % 26; 200])
            .chain([b"http/1.1".to_vec()])
            .collect();
        let mut p = pair_with(server_config, Arc::new(client_config)).await;
        assert_eq!(p.server.alpn_protocol(), Some(&b"http/1.1"[..]));
        round_trip(&mut p, b"ping", b"pong").await;
    }

    #[tokio::test]
    async fn a_corrupt_record_is_answered_with_an_alert() {
        let Pair {
            mut server,
            mut client,
        } = pair(&[&rustls::version::TLS13]).await;
        // An application-data record that no key decrypts, under the TLS layer.
        let mut forged = vec![23, 3, 3, 0, 40];
        forged.extend(pattern(40, 7));
        client.get_mut().0.write_all(&forged).await.unwrap();
        let mut buf = [0; 16];
        let err = server.read(&mut buf).await.expect_err("a forged record");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        drop(server);
        let err = client
            .read(&mut buf)
            .await
            .expect_err("the viewer hears why");
        assert!(err.to_string().contains("BadRecordMac"), "{err}");
    }

    /// Accepts one connection and feeds it `bytes` from a raw client, then ends the
    /// client's side; the handshake's result and the client's socket.
    async fn accept_after(bytes: &[u8]) -> (io::Result<ServerTls>, TcpStream) {
        let (server_config, _) = configs(&[&rustls::version::TLS13]);
        let (mut tcp, accept) = listen(server_config).await;
        // The server may refuse before it has read everything: ignore write errors. Then
        // end the stream, so a server still waiting for more fails instead of hanging.
        let _ = tcp.write_all(bytes).await;
        let _ = tcp.shutdown().await;
        let result = accept.await.expect("the handshake task does not panic");
        (result, tcp)
    }

    #[tokio::test]
    async fn an_oversized_handshake_message_is_refused_without_panicking() {
        // A handshake record announcing a 64 KiB + 1 message: rustls refuses it while
        // joining, with nothing queued, and the alert path must not trip over that.
        let err = accept_after(&[0x16, 3, 1, 0, 4, 1, 1, 0, 0]).await.0.err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[tokio::test]
    async fn a_handshake_message_in_tiny_records_is_bounded() {
        // A ClientHello header announcing 60,000 bytes, then its body a byte a record:
        // rustls would join it, but the ciphertext it takes is bounded.
        let mut bytes = vec![0x16, 3, 1, 0, 4, 1, 0, 0xea, 0x60];
        for _ in 0..40_000 {
            bytes.extend_from_slice(&[0x16, 3, 1, 0, 1, 0]);
        }
        let err = accept_after(&bytes).await.0.err().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[tokio::test]
    async fn a_failed_handshake_is_an_error_not_a_hang() {
        let (result, mut tcp) = accept_after(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let err = result.err().expect("plain HTTP is not a ClientHello");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // The viewer is told why: a fatal alert record (content type 21).
        let mut record = Vec::new();
        tcp.read_to_end(&mut record).await.unwrap();
        assert_eq!(
            record.first(),
            Some(&21),
            "an alert before the close: {record:?}"
        );
        assert_eq!(record.get(5), Some(&2), "level fatal: {record:?}");
    }
}
