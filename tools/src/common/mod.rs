//! What several programs share: their common arguments ([`args`]: `-o`/`-f`, the view flags),
//! running a `main` ([`cli`]), reading the capture a program is given ([`input`]) and the view
//! of it the user asked for ([`view`]), where output goes ([`output`]), and the formatting
//! every report uses: the notice of a sampled capture ([`estimate`]), sizes and times ([`human`]), text safe for a terminal ([`terminal`]),
//! Python's JSON ([`json`]), data embedded in an HTML page ([`html`]), the progress bar
//! ([`progress`]) and string interning ([`interner`]).

pub mod args;
pub mod cli;
pub mod estimate;
pub mod html;
pub mod human;
pub mod input;
pub mod interner;
pub mod json;
pub mod output;
pub mod progress;
pub mod terminal;
pub mod view;
