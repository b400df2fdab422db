//! Types that cross the wire between browser, API clients and server. Validated newtypes are
//! built with `parse`, so a value of that type is always valid. Never imports `server::`.

mod account;
mod admin;
mod job;
mod knowledge;
mod live;
mod llm;
mod notification;
mod scope;
mod usage;

pub use account::*;
pub use admin::*;
pub use job::*;
pub use knowledge::*;
pub use live::*;
pub use llm::*;
pub use notification::*;
pub use scope::*;
pub use usage::*;
