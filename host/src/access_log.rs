//! The access log: one JSON line per request with CloudFront's standard log field names
//! where they apply, written by a thread of its own so requests never wait on the disk.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Stdout,
    File(PathBuf),
}

/// What the pipeline knows about a request when it is answered.
#[derive(Debug, Clone, Default)]
pub struct AccessFacts {
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub protocol_version: &'static str,
    pub request_bytes: Option<u64>,
}

/// A running access log. Lines are dropped (and counted) rather than block a request
/// if the writer falls far behind.
pub struct AccessLog {
    tx: mpsc::SyncSender<String>,
}

impl AccessLog {
    pub fn open(target: &AccessLogTarget) -> std::io::Result<Self> {
        let mut out: Box<dyn Write + Send> = match target {
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = mpsc::sync_channel::<String>(65_536);
        std::thread::Builder::new()
            .name("wedge-access-log".into())
            .spawn(move || {
                let mut buffered = std::io::BufWriter::new(&mut out);
                loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(line) => {
                            let _ = buffered.write_all(line.as_bytes());
                            let _ = buffered.write_all(b"\n");
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            let _ = buffered.flush();
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            let _ = buffered.flush();
                            return;
                        }
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues one line.
    pub fn write(&self, entry: &Value) {
        let _ = self.tx.try_send(entry.to_string());
    }
}

/// Builds a log entry. `functions` lists `function:hook=outcome`.
#[allow(clippy::too_many_arguments)]
pub fn entry(
    facts: &AccessFacts,
    conn: &crate::pipeline::ConnectionInfo,
    status: u16,
    response_bytes: Option<u64>,
    seconds: f64,
    result: &str,
    request_id: &str,
    behavior: Option<&str>,
    functions: Vec<String>,
) -> Value {
    let (date, time) = utc_date_time(SystemTime::now());
    json!({
        "date": date,
        "time": time,
        "x-edge-location": "wedge",
        "sc-bytes": response_bytes,
        "c-ip": conn.client_ip().to_string(),
        "cs-method": facts.method,
        "cs(Host)": facts.host,
        "cs-uri-stem": facts.path,
        "sc-status": status,
        "cs(Referer)": facts.referer,
        "cs(User-Agent)": facts.user_agent,
        "cs-uri-query": facts.query,
        "x-edge-result-type": result,
        "x-edge-request-id": request_id,
        "cs-protocol": conn.scheme,
        "cs-bytes": facts.request_bytes,
        "time-taken": (seconds * 1000.0).round() / 1000.0,
        "ssl-protocol": conn.tls_version,
        "ssl-cipher": conn.tls_cipher,
        "cs-protocol-version": facts.protocol_version,
        "x-wedge-behavior": behavior,
        "x-wedge-functions": functions,
    })
}

/// `("YYYY-MM-DD", "HH:MM:SS")` in UTC.
fn utc_date_time(t: SystemTime) -> (String, String) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_037_723);
        assert_eq!(utc_date_time(t), ("2026-11-30".into(), "11:22:03".into()));
        assert_eq!(
            utc_date_time(SystemTime::UNIX_EPOCH),
            ("1970-01-01".into(), "00:00:00".into())
        );
    }
}
