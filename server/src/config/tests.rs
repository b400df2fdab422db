//! Loading and validation: every rule names its key.

use super::*;

#[test]
fn secret_url_debug_hides_password() {
    let u = SecretUrl::new("postgres://app:hunter2@db:5432/x");
    assert!(!format!("{u:?}").contains("hunter2"));
}

#[test]
fn rejects_unknown_database_scheme() {
    let mut s = Settings::default();
    s.database.url = SecretUrl::new("mysql://x");
    assert_eq!(s.validate().unwrap_err().key, "database.url");
}

#[test]
fn rejects_a_bad_cron_expression_naming_the_schedule() {
    let mut s = Settings::default();
    s.jobs.schedules.push(ScheduleSettings {
        name: "nightly".into(),
        cron: "61 * * * *".into(),
        kind: "demo.count".into(),
        payload: empty_object(),
        priority: "normal".into(),
    });
    let err = s.validate().unwrap_err();
    assert_eq!(err.key, "jobs.schedules[0].cron");
    assert!(err.rule.contains("nightly"), "{}", err.rule);
}

#[test]
fn heartbeat_must_fit_twice_in_the_lease() {
    let mut s = Settings::default();
    s.jobs.heartbeat_secs = 20;
    assert_eq!(s.validate().unwrap_err().key, "jobs.heartbeat_secs");
}

#[test]
fn llm_routes_must_name_a_configured_provider() {
    let mut s = Settings::default();
    s.llm.providers.push(ProviderSettings {
        name: "local".into(),
        kind: ProviderKind::Ollama,
        base_url: "http://127.0.0.1:11434".into(),
        api_key: Secret::default(),
        timeout_secs: 60,
        max_retries: 2,
        private: None,
        azure: false,
    });
    let target = |t: &str| Target::parse(t).unwrap();
    s.llm.routes.insert("default".into(), vec![target("local:llama3")]);
    s.validate().unwrap();
    s.llm.routes.insert("console".into(), vec![target("openai:gpt-4o")]);
    assert_eq!(s.validate().unwrap_err().key, "llm.routes.console");
}

// figment::Jail's closure must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
#[test]
fn named_settings_are_parsed_once_while_loading_and_a_bad_name_names_its_key() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("BLUEPRINT_LLM__TIMEZONE", "Europe/Berlin");
        jail.set_env("BLUEPRINT_LLM__USER_BUDGET_PERIOD", "Weekly");
        jail.set_env("BLUEPRINT_LLM__STRATEGY", "round_robin");
        jail.set_env("BLUEPRINT_LOG__FORMAT", "json");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(s.llm.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(s.llm.user_budget_period, Period::Weekly);
        assert_eq!(s.llm.strategy, Strategy::RoundRobin);
        assert_eq!(s.log.format, LogFormat::Json);
        for (var, value, key, rule) in [
            ("BLUEPRINT_LLM__TIMEZONE", "Mars/Olympus", "llm.timezone", "IANA time zone"),
            (
                "BLUEPRINT_LLM__GLOBAL_BUDGET_PERIOD",
                "hourly",
                "llm.global_budget_period",
                "daily, weekly or monthly",
            ),
            ("BLUEPRINT_LLM__STRATEGY", "fastest", "llm.strategy", "round_robin"),
            ("BLUEPRINT_LOG__FORMAT", "xml", "log.format", "pretty"),
            (
                "BLUEPRINT_LLM__ROUTES",
                "{default=[\"nocolon\"]}",
                "llm.routes.default",
                "provider:model",
            ),
        ] {
            jail.set_env(var, value);
            let err = Settings::load().unwrap_err();
            assert!(err.key.starts_with(key), "{var}={value}: {err}");
            assert!(err.rule.contains(rule), "{var}={value}: {err}");
            jail.set_env(
                var,
                match var {
                    "BLUEPRINT_LLM__TIMEZONE" => "UTC",
                    "BLUEPRINT_LLM__GLOBAL_BUDGET_PERIOD" => "monthly",
                    "BLUEPRINT_LLM__STRATEGY" => "priority",
                    "BLUEPRINT_LOG__FORMAT" => "pretty",
                    _ => "{}",
                },
            );
        }
        Ok(())
    });
}

#[test]
fn defaults_are_valid() {
    Settings::default().validate().unwrap();
}

fn smtp_on() -> Settings {
    let mut s = Settings::default();
    s.smtp.host = "smtp.example.com".into();
    s.smtp.username = "mailer".into();
    s.smtp.password = Secret(Some("hunter2".to_string().into()));
    s
}

#[test]
fn smtp_is_off_by_default_and_valid_when_configured() {
    assert!(!Settings::default().smtp.enabled());
    let s = smtp_on();
    assert!(s.smtp.enabled());
    s.validate().unwrap();
}

type Break = fn(&mut SmtpSettings);

#[test]
fn smtp_rules_name_the_key() {
    let cases: [(&str, Break); 7] = [
        ("smtp.from", |m| m.from = "Blueprint <nobody>".into()),
        ("smtp.from", |m| m.from = "".into()),
        ("smtp.timeout_secs", |m| m.timeout_secs = 0),
        ("smtp.port", |m| m.port = 0),
        ("smtp.host", |m| m.host = "smtp://mail.example.com".into()),
        ("smtp.host", |m| m.host = "mail.example.com:587".into()),
        ("smtp.password", |m| m.username = String::new()),
    ];
    for (key, break_it) in cases {
        let mut s = smtp_on();
        break_it(&mut s.smtp);
        assert_eq!(s.validate().unwrap_err().key, key);
    }
}

#[test]
fn smtp_credentials_never_cross_the_network_unencrypted() {
    let mut s = smtp_on();
    s.smtp.security = Security::None;
    let err = s.validate().unwrap_err();
    assert_eq!(err.key, "smtp.username");
    assert!(err.rule.contains("starttls"), "{}", err.rule);
    s.smtp.host = "127.0.0.1".into();
    s.validate().unwrap();
    s.smtp.username = String::new();
    s.smtp.password = Secret::default();
    s.smtp.host = "relay.internal".into();
    s.validate().unwrap();
}

#[test]
fn smtp_password_is_hidden_when_printed() {
    let text = format!("{:#?}", smtp_on());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("smtp.example.com"));
}

// figment::Jail's closure must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
#[test]
fn smtp_settings_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("BLUEPRINT_SMTP__HOST", "mail.example.com");
        jail.set_env("BLUEPRINT_SMTP__PORT", "2525");
        jail.set_env("BLUEPRINT_SMTP__SECURITY", "tls");
        jail.set_env("BLUEPRINT_SMTP__FROM", "Ops <ops@example.com>");
        jail.set_env("BLUEPRINT_SMTP__USERNAME", "mailer");
        jail.set_env("BLUEPRINT_SMTP__PASSWORD", "123456");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(
            s.smtp.password.0.as_ref().map(|p| p.expose_secret().to_string()),
            Some("123456".into())
        );
        assert_eq!(
            (s.smtp.host.as_str(), s.smtp.port, s.smtp.security.as_str()),
            ("mail.example.com", 2525, "tls")
        );
        assert_eq!(s.smtp.from, "Ops <ops@example.com>");
        jail.set_env("BLUEPRINT_SMTP__SECURITY", "plain");
        let err = Settings::load().unwrap_err();
        assert_eq!(err.key, "smtp.security");
        Ok(())
    });
}

#[allow(clippy::result_large_err)]
#[test]
fn cargo_leptos_site_addr_and_root_are_honoured_and_blueprint_variables_win() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("LEPTOS_SITE_ADDR", "127.0.0.1:3456");
        jail.set_env("LEPTOS_SITE_ROOT", "/srv/site");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(s.server.addr, SocketAddr::from(([127, 0, 0, 1], 3456)));
        assert_eq!(s.server.site_root, "/srv/site");
        jail.set_env("BLUEPRINT_SERVER__ADDR", "127.0.0.1:4567");
        let s = Settings::load().map_err(|e| e.to_string())?;
        assert_eq!(s.server.addr, SocketAddr::from(([127, 0, 0, 1], 4567)));
        jail.set_env("LEPTOS_SITE_ADDR", "localhost");
        let err = Settings::load().unwrap_err();
        assert_eq!(err.key, "LEPTOS_SITE_ADDR");
        Ok(())
    });
}
