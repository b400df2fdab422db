//! Types that cross the wire between browser, API clients and server. Validated newtypes are
//! built with `parse`, so a value of that type is always valid. Never imports server code.

mod account;
mod admin;
mod chat;
mod dashboard;
mod job;
mod knowledge;
mod live;
mod llm;
mod notification;
mod rfc;
mod scope;
mod usage;

pub use account::*;
pub use admin::*;
pub use chat::*;
pub use dashboard::*;
pub use job::*;
pub use knowledge::*;
pub use live::*;
pub use llm::*;
pub use notification::*;
pub use rfc::*;
pub use scope::*;
pub use usage::*;

/// `AppError`, the one error that crosses the wire.
pub mod error;
pub use error::{AppError, FieldError};
