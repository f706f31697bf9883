//! The capture's dictionaries (code locations, stack tries, thread names, images), gathered from
//! every chunk in order, and the resolution of a stack id into its frames.

use rustc_hash::FxHashMap;

use memray_format::chunk::Chunk;
use memray_format::error::{FormatError, Result};
use memray_format::records::{CodeDef, NativeNode, StackNode};
pub use memray_symbolize::ImageGeneration;
use memray_symbolize::NativeSymbols;

#[derive(Debug, Default, Clone)]
pub struct Definitions {
    pub codes: Vec<CodeDef>,
    /// `nodes[id - 1]` is node `id`.
    pub nodes: Vec<StackNode>,
    pub native_nodes: Vec<NativeNode>,
    pub thread_names: FxHashMap<u32, String>,
    /// The loaded objects, one set per generation (see FORMAT.md, IMAGES_RESET), in file order.
    pub image_generations: Vec<ImageGeneration>,
    /// Every native node's frames, once [`Definitions::symbolize_native`] has run.
    pub native_symbols: NativeSymbols,
}

/// One resolved Python frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame<'a> {
    pub function: &'a str,
    pub filename: &'a str,
    pub line: u32,
}

const UNKNOWN: &str = "<unknown>";

impl Definitions {
    /// Moves the chunk's definitions into the dictionaries, checking they continue them.
    pub fn absorb(&mut self, chunk: &mut Chunk) -> Result<()> {
        if chunk.code_base as usize != self.codes.len()
            || chunk.node_base as usize != self.nodes.len()
            || chunk.native_base as usize != self.native_nodes.len()
        {
            return Err(FormatError::corrupt(
                0,
                "a chunk's definitions do not follow the previous chunk's",
            ));
        }
        self.codes.append(&mut chunk.codes);
        self.nodes.append(&mut chunk.nodes);
        self.native_nodes.append(&mut chunk.native_nodes);
        for t in chunk.thread_names.drain(..) {
            self.thread_names.insert(t.thread, t.name);
        }
        let first_native_node = chunk.native_base.saturating_add(1);
        for img in chunk.images.drain(..) {
            match img {
                Some(i) => match self.image_generations.last_mut() {
                    Some(g) => g.images.push(i),
                    None => self.image_generations.push(ImageGeneration {
                        first_native_node,
                        images: vec![i],
                    }),
                },
                None => {
                    // A set that no node was defined under is replaced outright.
                    if self
                        .image_generations
                        .last()
                        .is_some_and(|g| g.first_native_node == first_native_node)
                    {
                        self.image_generations.pop();
                    }
                    self.image_generations.push(ImageGeneration {
                        first_native_node,
                        images: Vec::new(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn node(&self, id: u32) -> Option<&StackNode> {
        self.nodes.get((id as usize).checked_sub(1)?)
    }

    pub fn frame_of(&self, node: &StackNode) -> Frame<'_> {
        match self.codes.get(node.code as usize) {
            Some(c) => Frame {
                function: &c.function,
                filename: &c.filename,
                line: node.line,
            },
            None => Frame {
                function: UNKNOWN,
                filename: UNKNOWN,
                line: node.line,
            },
        }
    }

    /// Iterates the frames of stack `id`, innermost first. Stops at the root, or at a
    /// malformed link (ids always point to earlier nodes, so the walk always ends).
    pub fn frames(&self, id: u32) -> impl Iterator<Item = Frame<'_>> + '_ {
        let mut cur = id;
        std::iter::from_fn(move || {
            let node = self.node(cur)?;
            cur = if node.parent < cur { node.parent } else { 0 };
            Some(self.frame_of(node))
        })
    }

    /// The innermost frame of stack `id`, if it has any.
    pub fn top_frame(&self, id: u32) -> Option<Frame<'_>> {
        self.frames(id).next()
    }

    /// Resolves the native nodes' addresses into frames (a no-op without native nodes).
    pub fn symbolize_native(&mut self) {
        if !self.native_nodes.is_empty() {
            self.native_symbols =
                memray_symbolize::symbolize(&self.native_nodes, &self.image_generations);
        }
    }

    /// Iterates the return addresses of native stack `id`, innermost first, with each node's id.
    pub fn native_ips(&self, id: u32) -> impl Iterator<Item = (u32, u64)> + '_ {
        let mut cur = id;
        std::iter::from_fn(move || {
            let node = self.native_nodes.get((cur as usize).checked_sub(1)?)?;
            let here = cur;
            cur = if node.parent < cur { node.parent } else { 0 };
            Some((here, node.ip))
        })
    }

    pub fn thread_name(&self, thread: u32) -> Option<&str> {
        self.thread_names.get(&thread).map(String::as_str)
    }
}
