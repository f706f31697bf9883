//! Native stacks at report time: symbolising return addresses ([`symbolize`]) and merging a
//! native stack with its Python stack into one hybrid stack ([`hybrid`]).

pub mod hybrid;
pub mod symbolize;

pub use hybrid::hybrid_frames;
pub use symbolize::{symbolize, NativeFrame, NativeSymbols};
