//! Reusable UI. Components get their data through props or the session context and never
//! import `server::`.

/// Spend charts and share tables.
pub mod chart;
/// Form helpers: field errors and error banners.
pub mod form;
/// The live-event socket as a reactive signal.
pub mod live;
/// The signed-in user, as a reactive context.
pub mod session;
/// The app frame: navigation, account menu, the sign-in guard.
pub mod shell;
/// Server-Sent Events from a POST, in the browser.
pub mod sse;
/// The pager and duration formatting list pages share.
pub mod table;
/// Light/dark theme toggle.
pub mod theme;
