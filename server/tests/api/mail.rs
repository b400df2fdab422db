//! E-mail over SMTP against a real server process started by the test (`smtp_sink`): what the
//! mailer puts on the wire, and how the `email.send` job tells failures worth retrying (no
//! server, a 4xx reply) from permanent ones (a bad address, a 5xx reply, a bad payload).

use crate::smtp_sink::SmtpSink;
use domain::jobs::kinds::send_email;
use domain::mail::{MailSettings, Mailer, Security, parse_mailbox};
use serde_json::json;
use std::time::Duration;

fn mailer(port: u16) -> Mailer {
    Mailer::new(&MailSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        from: parse_mailbox("Blueprint <blueprint@localhost>").unwrap(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn payload(to: &str) -> serde_json::Value {
    json!({ "to": to, "subject": "Budget reached 80 %", "body": "Hello,\nyour budget.\n" })
}

#[tokio::test]
async fn the_mailer_puts_envelope_headers_and_body_on_the_wire() {
    let sink = SmtpSink::start().await;
    mailer(sink.port)
        .send("Ada Lovelace <ada@example.com>", "Budget reached 80 %", "Hello Ada,\n.dot line\nBye")
        .await
        .unwrap();
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(sink.connections(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "blueprint@localhost");
    assert_eq!(mail.to, vec!["ada@example.com".to_string()]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Budget reached 80 %"));
    assert_eq!(mail.header("From").as_deref(), Some("Blueprint <blueprint@localhost>"));
    let to = mail.header("To").unwrap();
    assert!(to.contains("Ada Lovelace") && to.ends_with("<ada@example.com>"), "{to}");
    assert!(mail.header("Content-Type").unwrap().starts_with("text/plain"), "{}", mail.data);
    assert!(mail.header("Date").is_some() && mail.header("Message-ID").is_some());
    // A line starting with a dot survives the SMTP dot-stuffing.
    assert!(mail.body().contains("Hello Ada,\r\n.dot line\r\nBye"), "{}", mail.data);
}

#[tokio::test]
async fn the_email_job_retries_transient_failures_and_gives_up_on_permanent_ones() {
    let sink = SmtpSink::start().await;
    send_email(mailer(sink.port), payload("ada@example.com")).await.unwrap();
    assert_eq!(sink.messages().len(), 1);

    let bad_address = send_email(mailer(sink.port), payload("not an address")).await.unwrap_err();
    assert!(bad_address.is_permanent(), "{bad_address}");
    let bad_payload =
        send_email(mailer(sink.port), json!({ "to": "ada@example.com" })).await.unwrap_err();
    assert!(bad_payload.is_permanent(), "{bad_payload}");

    sink.reject_recipients_with("451 4.3.0 mailbox busy, try again later");
    let busy = send_email(mailer(sink.port), payload("ada@example.com")).await.unwrap_err();
    assert!(!busy.is_permanent(), "{busy}");
    sink.reject_recipients_with("550 5.1.1 no such user");
    let unknown = send_email(mailer(sink.port), payload("ada@example.com")).await.unwrap_err();
    assert!(unknown.is_permanent(), "{unknown}");
    assert!(unknown.to_string().contains("550"), "{unknown}");

    // Nobody listening: the server may be restarting; try again later.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = send_email(mailer(closed), payload("ada@example.com")).await.unwrap_err();
    assert!(!down.is_permanent(), "{down}");

    assert_eq!(sink.messages().len(), 1, "nothing else was accepted");
}
