//! Embedding data in the self-contained HTML reports.

/// Puts `json` where `template` says `__MEMRAY_DATA__` (inside a
/// `<script type="application/json">`). `<`, `>`, `&` and the JavaScript line separators are
/// escaped as `\uXXXX`, so nothing the profiled program named can end the script element or
/// start another; the pages only ever show such text through `textContent` or a canvas.
pub fn embed(template: &str, json: &str) -> String {
    let safe = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    template.replacen("__MEMRAY_DATA__", &safe, 1)
}
