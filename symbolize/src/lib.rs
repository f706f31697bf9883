//! Symbolization of native stacks at report time: every distinct return address of a
//! capture's native nodes is looked up in the object it was loaded from (as recorded in the
//! capture's image generations), with DWARF line tables and inlined frames where the object has
//! them, and its symbol table otherwise. Objects are read in parallel, each once.
//!
//! It takes the capture's native nodes and image maps (`memray-format` records) and knows
//! nothing of the analyses that use its [`NativeSymbols`].

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use memray_format::records::{ImageMap, NativeNode};

/// A set of loaded objects and the native nodes defined while it was in effect (see FORMAT.md,
/// IMAGES_RESET).
#[derive(Debug, Default, Clone)]
pub struct ImageGeneration {
    /// The first native node id symbolized with this set.
    pub first_native_node: u32,
    pub images: Vec<ImageMap>,
}

/// The index in `generations` (in file order) that native node `id` is symbolized with.
pub fn generation_of(generations: &[ImageGeneration], id: u32) -> Option<usize> {
    let after = generations.partition_point(|g| g.first_native_node <= id);
    after.checked_sub(1)
}

/// One native frame: a function, its source file and line (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFrame {
    pub function: String,
    pub filename: String,
    pub line: u32,
}

/// The frames of every native node, resolved once.
#[derive(Debug, Default, Clone)]
pub struct NativeSymbols {
    /// `node_location[id - 1]` indexes `locations` for native node `id`.
    node_location: Vec<u32>,
    /// Per distinct (generation, address): its frames, innermost (inlined) first.
    locations: Vec<Vec<NativeFrame>>,
    /// One line per object that could not be read (missing, changed since the capture).
    pub warnings: Vec<String>,
}

impl NativeSymbols {
    /// The frames of native node `id`, innermost first; empty for an unknown id.
    pub fn frames(&self, id: u32) -> &[NativeFrame] {
        (id as usize)
            .checked_sub(1)
            .and_then(|i| self.node_location.get(i))
            .map_or(&[], |&l| &self.locations[l as usize])
    }

    /// Number of distinct addresses resolved.
    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// Appends `other`'s nodes after this one's (node `id` of `other` becomes node
    /// `id + self's node count`), as merging the captures of several processes needs.
    pub fn append(&mut self, other: &NativeSymbols) {
        let base = self.locations.len() as u32;
        self.node_location
            .extend(other.node_location.iter().map(|l| l.saturating_add(base)));
        self.locations.extend(other.locations.iter().cloned());
        self.warnings.extend(other.warnings.iter().cloned());
    }

    /// Symbols given outright: node `i + 1` has `frames[i]` (for tests of what uses them).
    pub fn from_frames(frames: Vec<Vec<NativeFrame>>) -> NativeSymbols {
        NativeSymbols {
            node_location: (0..frames.len() as u32).collect(),
            locations: frames,
            warnings: Vec::new(),
        }
    }
}

/// An object as loaded: the key its lookups are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ObjectKey {
    path: String,
    load_address: u64,
}

/// (location, return address) pairs to look up in one object.
type Lookups = Vec<(u32, u64)>;
/// Each location's frames, and the warning about the object if it could not be read.
type Resolved = (Vec<(u32, Vec<NativeFrame>)>, Option<String>);

/// Resolves every native node (`native_nodes[id - 1]` is node `id`) with the objects of the
/// image generation it was defined under.
pub fn symbolize(native_nodes: &[NativeNode], generations: &[ImageGeneration]) -> NativeSymbols {
    let mut node_location = Vec::with_capacity(native_nodes.len());
    let mut distinct: FxHashMap<(usize, u64), u32> = FxHashMap::default();
    let mut wanted: Vec<(usize, u64)> = Vec::new();
    for (i, node) in native_nodes.iter().enumerate() {
        let generation = generation_of(generations, i as u32 + 1).unwrap_or(usize::MAX);
        let loc = *distinct.entry((generation, node.ip)).or_insert_with(|| {
            wanted.push((generation, node.ip));
            (wanted.len() - 1) as u32
        });
        node_location.push(loc);
    }

    // Which object each address belongs to, per generation.
    let ranges: Vec<Vec<(u64, u64, &ImageMap)>> = generations
        .iter()
        .map(|g| {
            let mut r: Vec<(u64, u64, &ImageMap)> = g
                .images
                .iter()
                .flat_map(|img| {
                    img.segments.iter().map(move |&(vaddr, size)| {
                        let start = img.load_address.wrapping_add(vaddr);
                        (start, start.wrapping_add(size), img)
                    })
                })
                .collect();
            r.sort_by_key(|&(start, _, _)| start);
            r
        })
        .collect();
    let mut by_object: BTreeMap<ObjectKey, (&ImageMap, Lookups)> = BTreeMap::new();
    let mut locations: Vec<Vec<NativeFrame>> = vec![Vec::new(); wanted.len()];
    for (loc, &(generation, ip)) in wanted.iter().enumerate() {
        let image = ranges.get(generation).and_then(|r| {
            let i = r.partition_point(|&(start, _, _)| start <= ip);
            let &(_, end, img) = r.get(i.checked_sub(1)?)?;
            (ip < end).then_some(img)
        });
        match image {
            Some(img) => {
                let key = ObjectKey {
                    path: img.path.clone(),
                    load_address: img.load_address,
                };
                by_object
                    .entry(key)
                    .or_insert_with(|| (img, Vec::new()))
                    .1
                    .push((loc as u32, ip));
            }
            None => locations[loc] = vec![address_only(ip, "")],
        }
    }

    let resolved: Vec<Resolved> = by_object
        .into_par_iter()
        .map(|(_, (img, addrs))| resolve_object(img, &addrs))
        .collect();
    let mut warnings = Vec::new();
    for (frames, warning) in resolved {
        for (loc, f) in frames {
            locations[loc as usize] = f;
        }
        warnings.extend(warning);
    }
    NativeSymbols {
        node_location,
        locations,
        warnings,
    }
}

fn address_only(ip: u64, path: &str) -> NativeFrame {
    NativeFrame {
        function: format!("0x{ip:x}"),
        filename: path.to_string(),
        line: 0,
    }
}

/// Looks up `addrs` ((location, return address) pairs) in the object `img` was loaded from.
fn resolve_object(img: &ImageMap, addrs: &[(u32, u64)]) -> Resolved {
    let fallback = |warning: String| {
        let frames = addrs
            .iter()
            .map(|&(loc, ip)| (loc, vec![address_only(ip, &img.path)]))
            .collect();
        (frames, Some(warning))
    };
    if let Some(problem) = check_object(img) {
        return fallback(problem);
    }
    let loader = match addr2line::Loader::new(&img.path) {
        Ok(l) => l,
        Err(e) => return fallback(format!("cannot read symbols of {}: {e}", img.path)),
    };
    let frames = addrs
        .iter()
        .map(|&(loc, ip)| {
            // A return address points after the call: look up the call instruction itself.
            let probe = ip.wrapping_sub(img.load_address).wrapping_sub(1);
            (loc, lookup(&loader, probe, ip, &img.path))
        })
        .collect();
    (frames, None)
}

/// None when the object at `img.path` is the one that was loaded; else why not.
fn check_object(img: &ImageMap) -> Option<String> {
    let file = match std::fs::File::open(&img.path) {
        Ok(f) => f,
        Err(e) => {
            return Some(format!(
                "cannot read {} to symbolize native frames ({e}); showing addresses",
                img.path
            ))
        }
    };
    if img.build_id.is_empty() {
        return None;
    }
    // SAFETY: a read-only mapping; a file changed underneath would only give wrong names.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot map {}: {e}; showing addresses", img.path)),
    };
    use object::Object;
    let id = object::File::parse(&*map)
        .ok()
        .and_then(|o| o.build_id().ok().flatten().map(<[u8]>::to_vec));
    match id {
        Some(id) if id == img.build_id => None,
        _ => Some(format!(
            "{} changed since the capture was made (its build id differs); showing addresses \
             for its frames",
            img.path
        )),
    }
}

/// The frames at `probe` (an address relative to the object), innermost first.
fn lookup(loader: &addr2line::Loader, probe: u64, ip: u64, path: &str) -> Vec<NativeFrame> {
    let mut out = Vec::new();
    if let Ok(mut frames) = loader.find_frames(probe) {
        while let Ok(Some(frame)) = frames.next() {
            let Some(function) = frame.function.as_ref().and_then(|f| f.demangle().ok()) else {
                continue;
            };
            let (file, line) = frame
                .location
                .as_ref()
                .map_or((None, None), |l| (l.file, l.line));
            out.push(NativeFrame {
                function: function.into_owned(),
                filename: file.unwrap_or(path).to_string(),
                line: line.unwrap_or(0),
            });
        }
    }
    if out.is_empty() {
        match loader.find_symbol(probe) {
            Some(name) => out.push(NativeFrame {
                function: addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned(),
                filename: path.to_string(),
                line: 0,
            }),
            None => out.push(address_only(ip, path)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbolize_with(image: ImageMap, ips: &[u64]) -> NativeSymbols {
        let generations = [ImageGeneration {
            first_native_node: 1,
            images: vec![image],
        }];
        let nodes: Vec<NativeNode> = ips.iter().map(|&ip| NativeNode { parent: 0, ip }).collect();
        symbolize(&nodes, &generations)
    }

    #[test]
    fn a_missing_object_gives_addresses_and_one_warning() {
        let image = ImageMap {
            path: "/nonexistent/libgone.so".into(),
            load_address: 0x1000,
            segments: vec![(0, 0x1000)],
            build_id: vec![1, 2, 3],
        };
        let s = symbolize_with(image, &[0x1010, 0x1020, 0x1010, 0x9000]);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("/nonexistent/libgone.so"));
        assert_eq!(s.frames(1)[0].function, "0x1010");
        assert_eq!(s.frames(1)[0].filename, "/nonexistent/libgone.so");
        assert_eq!(s.frames(3), s.frames(1));
        // An address outside every object keeps no file.
        assert_eq!(s.frames(4)[0].function, "0x9000");
        assert_eq!(s.frames(4)[0].filename, "");
        assert_eq!(s.len(), 3);
        assert!(s.frames(5).is_empty());
    }

    #[test]
    fn a_changed_object_is_reported_once() {
        let exe = std::env::current_exe().unwrap();
        let image = ImageMap {
            path: exe.to_string_lossy().into_owned(),
            load_address: 0,
            segments: vec![(0, 0x10_0000)],
            build_id: vec![0xde, 0xad],
        };
        let s = symbolize_with(image, &[0x100, 0x200]);
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("changed"), "{}", s.warnings[0]);
    }
}
