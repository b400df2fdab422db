//! Generates the `i18n` module (typed translation keys, the `Locale` enum, the context provider)
//! from `locales/en.json` and `locales/ru.json`. A key missing from one language is an error here,
//! not a silent fallback to English (`tests/i18n.rs` also checks that no value is empty).

use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("i18n");
    // `interpolate_display`: `t_string!` with arguments, for attributes (titles, ARIA labels).
    let options = ParseOptions::default().interpolate_display(true);
    let cfg = Config::new("en")?.add_locale("ru")?.parse_options(options);
    let infos = TranslationsInfos::parse(cfg)?;
    infos.rerun_if_locales_changed();
    infos.emit_diagnostics();
    infos.generate_i18n_module(out)?;
    Ok(())
}
