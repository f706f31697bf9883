//! `memray flamegraph`: one self-contained HTML file (no network) holding the call tree of the
//! chosen view, the memory-over-time samples, the capture's metadata and the source lines of
//! the frames shown, drawn on a canvas by the page's own script.

pub mod data;
pub mod temporal;

/// The page; `__MEMRAY_DATA__` is replaced by the JSON document (escaped for a script tag).
pub const TEMPLATE: &str = include_str!("template.html");

/// The page with `json` embedded.
pub fn render_page(json: &str) -> String {
    crate::html::embed(TEMPLATE, json)
}
