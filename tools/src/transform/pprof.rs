//! `pprof`: a gzipped `profile.proto`, as `go tool pprof`, Pyroscope, Grafana and Parca read
//! it. Sample types are `inuse_space`/`inuse_objects` for the peak and the leaks (memory in use
//! at that moment) and `alloc_space`/`alloc_objects` for temporary allocations. One sample per
//! stack and thread, labelled `thread_id` (and `thread_name` when the thread has one); one
//! location per Python frame (function and line), leaf first. Allocations without a Python
//! frame get a `<stack trace unavailable>` frame, so the samples add up to the whole view.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use memray_analysis::snapshot::View;

use super::profile_proto::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use super::{Export, NO_STACK};
use crate::common::interner::Interner;

/// The profile's string table.
type Strings = Interner<i64>;

/// Functions (name and file) and locations (function and line), numbered from 1.
#[derive(Default)]
struct Locations<'a> {
    functions: Vec<Function>,
    function_ids: HashMap<(&'a str, &'a str), u64>,
    locations: Vec<Location>,
    location_ids: HashMap<(u64, u32), u64>,
}

impl<'a> Locations<'a> {
    fn get(
        &mut self,
        strings: &mut Strings,
        function: &'a str,
        filename: &'a str,
        line: u32,
    ) -> u64 {
        let fid = match self.function_ids.get(&(function, filename)) {
            Some(&id) => id,
            None => {
                let id = self.functions.len() as u64 + 1;
                let name = strings.get(function);
                self.functions.push(Function {
                    id,
                    name,
                    system_name: name,
                    filename: strings.get(filename),
                    start_line: 0,
                });
                self.function_ids.insert((function, filename), id);
                id
            }
        };
        let locations = &mut self.locations;
        *self.location_ids.entry((fid, line)).or_insert_with(|| {
            let id = locations.len() as u64 + 1;
            locations.push(Location {
                id,
                mapping_id: 1,
                address: 0,
                line: vec![Line {
                    function_id: fid,
                    line: i64::from(line),
                    column: 0,
                }],
                is_folded: false,
            });
            id
        })
    }
}

/// The profile `export` describes (not yet encoded).
pub fn build(export: &Export) -> Profile {
    let a = export.analysis;
    let mut strings = Strings::new();
    let (space, objects, what) = match export.view {
        View::Peak => (
            "inuse_space",
            "inuse_objects",
            "allocations live at the peak",
        ),
        View::Leaks => ("inuse_space", "inuse_objects", "allocations leaked at exit"),
        View::Temporary => ("alloc_space", "alloc_objects", "temporary allocations"),
    };
    let bytes = strings.get("bytes");
    let sample_type = vec![
        ValueType {
            r#type: strings.get(space),
            unit: bytes,
        },
        ValueType {
            r#type: strings.get(objects),
            unit: strings.get("count"),
        },
    ];
    let default_sample_type = sample_type[0].r#type;
    let period_type = ValueType {
        r#type: strings.get("space"),
        unit: bytes,
    };
    let program = a.header.command_line.clone();
    let mapping = Mapping {
        id: 1,
        filename: strings.get(if program.is_empty() {
            "python"
        } else {
            &program
        }),
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        ..Default::default()
    };
    let comment = vec![strings.get(&format!("memray: {what}"))];
    let key_tid = strings.get("thread_id");
    let key_name = strings.get("thread_name");

    let mut locs = Locations::default();
    let mut samples: Vec<Sample> = Vec::with_capacity(export.groups.len());
    for g in export.groups {
        let frames = export.frames(g);
        let location_id: Vec<u64> = if frames.is_empty() {
            vec![locs.get(&mut strings, NO_STACK, "", 0)]
        } else {
            frames
                .iter()
                .map(|f| locs.get(&mut strings, f.function, f.filename, f.line))
                .collect()
        };
        let mut label = vec![Label {
            key: key_tid,
            num: i64::from(g.thread),
            ..Default::default()
        }];
        let name = export.thread_name(g.thread);
        if !name.is_empty() {
            label.push(Label {
                key: key_name,
                str: strings.get(name),
                ..Default::default()
            });
        }
        samples.push(Sample {
            location_id,
            value: vec![g.size as i64, g.count as i64],
            label,
        });
    }

    let start_ms = a.header.start_time_ms;
    let end_ms = a.end_time_ms().max(start_ms);
    Profile {
        sample_type,
        sample: samples,
        mapping: vec![mapping],
        location: locs.locations,
        function: locs.functions,
        string_table: strings.into_strings(),
        drop_frames: 0,
        keep_frames: 0,
        time_nanos: (start_ms as i64).saturating_mul(1_000_000),
        duration_nanos: ((end_ms - start_ms) as i64).saturating_mul(1_000_000),
        period_type: Some(period_type),
        period: 1,
        comment,
        default_sample_type,
    }
}

pub fn render(export: &Export, out: &mut dyn Write) -> Result<()> {
    let profile = build(export);
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    gz.finish()?;
    Ok(())
}
