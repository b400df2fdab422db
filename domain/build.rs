//! The server's message catalog is read by rust-i18n's `i18n!` at compile time, which does not
//! tell cargo; this does, so an edited translation rebuilds the crate.

fn main() {
    println!("cargo:rerun-if-changed=locales");
}
