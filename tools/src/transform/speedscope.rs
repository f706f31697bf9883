//! Memray's `speedscope` transform: a speedscope file with two `sampled` profiles over shared
//! frames, "Memory" (bytes) and "Allocations" (counts). Samples run root to leaf; groups with
//! the same stack are summed; frames are (name, file, line), with `file` only when known and
//! `line` only when positive.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::Export;

#[derive(Serialize)]
struct SpeedscopeFrame<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<SpeedscopeFrame<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile<'s> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    unit: &'static str,
    start_value: u64,
    end_value: u64,
    samples: Vec<&'s [usize]>,
    weights: Vec<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, 's> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: [Profile<'s>; 2],
    name: &'a str,
    active_profile_index: u32,
    exporter: String,
}

fn profile<'s>(
    name: &'static str,
    unit: &'static str,
    weighted: impl Iterator<Item = (&'s [usize], u64)>,
) -> Profile<'s> {
    let (samples, weights): (Vec<&[usize]>, Vec<u64>) = weighted.filter(|(_, w)| *w > 0).unzip();
    Profile {
        kind: "sampled",
        name,
        unit,
        start_value: 0,
        end_value: weights.iter().copied().fold(0, u64::saturating_add),
        samples,
        weights,
    }
}

pub fn render(export: &Export, out: &mut dyn Write) -> Result<()> {
    let mut frame_index: HashMap<(&str, &str, u32), usize> = HashMap::new();
    let mut frames: Vec<SpeedscopeFrame> = Vec::new();
    let mut sample_index: HashMap<Vec<usize>, usize> = HashMap::new();
    // (root-to-leaf frame indices, bytes, allocations), in order of first appearance.
    let mut samples: Vec<(Vec<usize>, u64, u64)> = Vec::new();
    for g in export.groups {
        let sample: Vec<usize> = export
            .frames(g)
            .iter()
            .rev()
            .map(|f| {
                *frame_index
                    .entry((f.function, f.filename, f.line))
                    .or_insert_with(|| {
                        frames.push(SpeedscopeFrame {
                            name: f.function,
                            file: (!f.filename.is_empty()).then_some(f.filename),
                            line: (f.line > 0).then_some(f.line),
                        });
                        frames.len() - 1
                    })
            })
            .collect();
        if sample.is_empty() {
            continue;
        }
        let i = *sample_index.entry(sample.clone()).or_insert_with(|| {
            samples.push((sample, 0, 0));
            samples.len() - 1
        });
        samples[i].1 = samples[i].1.saturating_add(g.size);
        samples[i].2 = samples[i].2.saturating_add(g.count);
    }
    let doc = Document {
        schema: "https://www.speedscope.app/file-format-schema.json",
        shared: Shared { frames },
        profiles: [
            profile(
                "Memory",
                "bytes",
                samples.iter().map(|(s, bytes, _)| (s.as_slice(), *bytes)),
            ),
            profile(
                "Allocations",
                "none",
                samples.iter().map(|(s, _, n)| (s.as_slice(), *n)),
            ),
        ],
        name: &export.analysis.header.command_line,
        active_profile_index: 0,
        exporter: format!("memray@{}", env!("CARGO_PKG_VERSION")),
    };
    crate::common::json::write_python_json_compact(out, &doc)?;
    Ok(())
}
