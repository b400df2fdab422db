//! The RFC studio's pure rules: the built-in templates, `[S#]` citations and the deterministic
//! completeness check. Nothing here touches the store, the gateway or the network, so each
//! rule is tested on its own; `service::rfcs` puts them to work.

pub mod citations;
pub mod quality;
pub mod questions;
pub mod review;
pub mod templates;
pub mod text;
pub mod writing;

#[cfg(test)]
mod quality_eval;
