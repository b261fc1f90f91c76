//! SMTP backend against a real SMTP server: Python `aiosmtpd` on 127.0.0.1, started per test
//! (`.ci/run` installs it with `python3 -m pip install aiosmtpd`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use notify::{FanOut, Message, Notifier, SendFailure};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Binds port 0, prints the port, writes each received mail as JSON into the directory, and exits
/// when its stdin closes (so it never outlives the test).
const SERVER: &str = r#"
import asyncio, json, os, sys, threading
from aiosmtpd.smtp import SMTP

out = sys.argv[1]

count = [0]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        count[0] += 1
        path = os.path.join(out, "mail-%06d.json" % count[0])
        with open(path + ".tmp", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                       "data": envelope.content.decode("utf-8", "replace")}, f)
        os.rename(path + ".tmp", path)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="test.local"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    done = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True).start()
    await done.wait()

asyncio.run(main())
"#;

struct SmtpServer {
    _child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

async fn start_server() -> SmtpServer {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let mail_dir = dir.path().join("mail");
    std::fs::create_dir(&mail_dir).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&mail_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with aiosmtpd (python3 -m pip install aiosmtpd)");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("aiosmtpd did not start in time")
    .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("aiosmtpd printed {line:?}"));
    SmtpServer {
        _child: child,
        port,
        dir,
    }
}

async fn wait_for_mail(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        if files.len() >= n {
            files.sort();
            return files
                .iter()
                .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail arrived");
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(": ")
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn body(data: &str) -> &str {
    data.split_once("\r\n\r\n")
        .or_else(|| data.split_once("\n\n"))
        .map_or("", |(_, b)| b)
        .trim_end()
}

#[tokio::test]
async fn mail_arrives_with_from_to_subject_and_body() {
    let server = start_server().await;
    let url = format!(
        "smtp://127.0.0.1:{}/?fromAddress=kured@example.com&fromName=Kured&toAddresses=ops@example.com,oncall@example.com&encryption=None&subject=Node%20maintenance",
        server.port
    );
    let fanout = FanOut::from_urls(&url, Duration::from_secs(10)).unwrap();
    fanout
        .send(&Message::text("Draining node n1"))
        .await
        .unwrap();

    let mails = wait_for_mail(&server.dir.path().join("mail"), 1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["from"], "kured@example.com");
    assert_eq!(
        mail["to"],
        serde_json::json!(["ops@example.com", "oncall@example.com"])
    );
    let data = mail["data"].as_str().unwrap();
    assert_eq!(header(data, "Subject"), Some("Node maintenance"));
    assert_eq!(header(data, "From"), Some("Kured <kured@example.com>"));
    assert_eq!(
        header(data, "To"),
        Some("ops@example.com, oncall@example.com")
    );
    assert_eq!(body(data), "Draining node n1");
}

#[tokio::test]
async fn subject_defaults_to_title_then_first_line_and_starttls_is_opportunistic() {
    let server = start_server().await;
    // Default encryption (Auto) with STARTTLS on: the test server offers no STARTTLS, so the
    // mail goes in plain text, as shoutrrr does.
    let url = format!(
        "smtp://127.0.0.1:{}/?from=kured@example.com&to=ops@example.com",
        server.port
    );
    let fanout = FanOut::from_urls(&url, Duration::from_secs(10)).unwrap();
    fanout
        .send(&Message {
            title: Some("kured".into()),
            text: "Rebooting node n2".into(),
        })
        .await
        .unwrap();
    fanout
        .send(&Message::text("Node n2 rebooted\nsecond line"))
        .await
        .unwrap();
    let mails = wait_for_mail(&server.dir.path().join("mail"), 2).await;
    let subjects: Vec<_> = mails
        .iter()
        .map(|m| {
            header(m["data"].as_str().unwrap(), "Subject")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(subjects, ["kured", "Node n2 rebooted"]);
    assert_eq!(
        body(mails[0]["data"].as_str().unwrap()),
        "Rebooting node n2"
    );
}

#[tokio::test]
async fn refused_smtp_reports_service_and_hides_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "smtp://mailer:PWS3CRET@127.0.0.1:{port}/?from=a@example.com&to=b@example.com&encryption=None"
    );
    let fanout = FanOut::from_urls(&url, Duration::from_secs(2)).unwrap();
    assert!(!format!("{fanout:?}").contains("PWS3CRET"));
    let err = fanout.send(&Message::text("x")).await.unwrap_err();
    assert_eq!(err.failures.len(), 1);
    assert_eq!(err.failures[0].service, "smtp");
    assert!(
        matches!(
            err.failures[0].failure,
            SendFailure::Smtp(_) | SendFailure::Timeout(_)
        ),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("smtp://mailer:***@127.0.0.1"), "{text}");
    assert!(!text.contains("PWS3CRET"), "{text}");
}
