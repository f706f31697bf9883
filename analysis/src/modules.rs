//! Maps a Python stack to the module responsible for it, as Memray's stats report does: the
//! first frame (innermost first) that is not standard library names the top-level package.

use std::path::Path;

use super::definitions::Definitions;
use memray_format::records::Header;

pub struct ModuleResolver<'h> {
    stdlib: &'h str,
    site_packages: &'h [String],
    sys_path: &'h [String],
}

#[derive(PartialEq)]
enum Kind {
    Stdlib,
    Other,
}

/// `pkg/mod.py` → `pkg.mod`, `pkg/__init__.py` → `pkg`.
fn dotted(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        if let Some(stem) = last.strip_suffix(".py") {
            *last = stem.to_string();
        }
        if last == "__init__" {
            parts.pop();
        }
    }
    parts.join(".")
}

impl<'h> ModuleResolver<'h> {
    pub fn new(h: &'h Header) -> Self {
        ModuleResolver {
            stdlib: &h.stdlib_dir,
            site_packages: &h.site_packages,
            sys_path: &h.sys_path,
        }
    }

    fn classify(&self, filename: &str) -> (String, Kind) {
        if filename.is_empty() {
            return ("unknown".into(), Kind::Other);
        }
        if let Some(name) = filename
            .strip_prefix("<frozen ")
            .and_then(|s| s.strip_suffix('>'))
        {
            return (name.to_string(), Kind::Stdlib);
        }
        let path = Path::new(filename);
        // The most specific directory wins (a package path inside the working directory, as
        // an editable install puts it, names the package, not the directories above it).
        let under = |dirs: &mut dyn Iterator<Item = &str>| {
            dirs.filter(|d| !d.is_empty())
                .filter_map(|d| path.strip_prefix(d).ok().map(|rel| (d.len(), dotted(rel))))
                .max_by_key(|(len, _)| *len)
                .map(|(_, m)| m)
        };
        if let Some(m) = under(&mut self.site_packages.iter().map(String::as_str)) {
            return (m, Kind::Other);
        }
        if let Some(m) = under(&mut std::iter::once(self.stdlib)) {
            return (m, Kind::Stdlib);
        }
        if let Some(m) = under(&mut self.sys_path.iter().map(String::as_str)) {
            return (m, Kind::Other);
        }
        let base = path
            .file_name()
            .map(|b| dotted(Path::new(b)))
            .unwrap_or_default();
        (base, Kind::Other)
    }

    pub fn module_for_stack(&self, defs: &Definitions, stack: u32) -> String {
        for frame in defs.frames(stack) {
            let (module, kind) = self.classify(frame.filename);
            if kind == Kind::Stdlib {
                continue;
            }
            let top = module.split('.').next().unwrap_or("").to_string();
            return if top == "memray" {
                "<root>".into()
            } else {
                top
            };
        }
        "<root>".into()
    }
}
