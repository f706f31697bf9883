//! Memray's `gprof2dot` transform: the JSON that `gprof2dot -f json` reads. One event per
//! group with a Python stack, its call chain innermost first, its cost the group's bytes;
//! functions are (name, file) pairs, numbered in order of first appearance.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::Export;

#[derive(Serialize)]
struct Cost {
    description: &'static str,
    unit: &'static str,
}

#[derive(Serialize)]
struct Event {
    callchain: Vec<usize>,
    cost: [u64; 1],
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    module: &'a str,
}

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    costs: [Cost; 1],
    events: Vec<Event>,
    functions: Vec<Function<'a>>,
}

pub fn render(export: &Export, out: &mut dyn Write) -> Result<()> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut events = Vec::new();
    for g in export.groups {
        let callchain: Vec<usize> = export
            .frames(g)
            .iter()
            .map(|f| {
                *index.entry((f.function, f.filename)).or_insert_with(|| {
                    functions.push(Function {
                        name: f.function,
                        module: f.filename,
                    });
                    functions.len() - 1
                })
            })
            .collect();
        if callchain.is_empty() {
            continue;
        }
        events.push(Event {
            callchain,
            cost: [g.size],
        });
    }
    let doc = Document {
        version: 0,
        costs: [Cost {
            description: "Memory",
            unit: "bytes",
        }],
        events,
        functions,
    };
    crate::common::json::write_python_json_compact(out, &doc)?;
    Ok(())
}
