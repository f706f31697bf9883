//! The capture's dictionaries (code locations, stack tries, thread names, images), gathered from
//! every chunk in order, and the resolution of a stack id into its frames.

use rustc_hash::FxHashMap;

use crate::chunk::Chunk;
use crate::error::{FormatError, Result};
use crate::records::{CodeDef, ImageMap, NativeNode, StackNode};

#[derive(Debug, Default, Clone)]
pub struct Definitions {
    pub codes: Vec<CodeDef>,
    /// `nodes[id - 1]` is node `id`.
    pub nodes: Vec<StackNode>,
    pub native_nodes: Vec<NativeNode>,
    pub thread_names: FxHashMap<u32, String>,
    pub images: Vec<ImageMap>,
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
        for img in chunk.images.drain(..) {
            match img {
                Some(i) => self.images.push(i),
                None => self.images.clear(),
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

    pub fn thread_name(&self, thread: u32) -> Option<&str> {
        self.thread_names.get(&thread).map(String::as_str)
    }
}
