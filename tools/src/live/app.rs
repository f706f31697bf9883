//! The live view's state and what each key does, apart from any terminal (so it can be tested
//! on its own). The figures come from the shared live state of the analysis crate.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use memray_analysis::live::LiveData;
use memray_analysis::snapshot::Aggregate;
use rustc_hash::FxHashMap;

/// Like Memray's live view, the table covers the first 95% of the live bytes (in order of
/// allocation), leaving out the long tail.
pub const COVERAGE: f64 = 0.95;
/// Seconds of heap history asked for (more than any terminal is wide).
const HISTORY: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Total,
    Own,
    Allocations,
}

/// One function's line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub function: String,
    pub file: String,
    /// The line of the function under which most of its memory was allocated.
    pub line: u32,
    pub total: u64,
    pub own: u64,
    pub count: u64,
}

/// What the main loop must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Draw again.
    Redraw,
    /// Recompute the table from the snapshot shown (thread selection changed), then draw.
    Rebuild,
    Quit,
}

pub struct App {
    pub pid: u32,
    pub command_line: String,
    pub sort: SortKey,
    pub merge_threads: bool,
    /// Threads that allocated, in order of first appearance.
    pub threads: Vec<u32>,
    pub thread_names: FxHashMap<u32, String>,
    pub thread_idx: usize,
    pub paused: bool,
    /// The stream has ended (the program exited or stopped tracking).
    pub disconnected: bool,
    pub error: Option<String>,
    /// How the program exited, when known (`memray run --live`): `exit code 0`, ...
    pub exit_status: Option<String>,
    /// Snapshots taken so far (Memray's "Samples").
    pub samples: u64,
    pub elapsed_ms: u64,
    pub heap: u64,
    pub peak: u64,
    /// A sampled capture's rate (`--sample-every`): the heap and the table are estimates.
    pub sample_every: u64,
    /// Highest heap of each recent second, oldest first.
    pub history: Vec<u64>,
    /// The heap when the table's snapshot was taken (the base of its percentages).
    pub table_heap: u64,
    /// The snapshot the table shows, by stack and thread (kept while paused).
    groups: Vec<Aggregate>,
    pub rows: Vec<Row>,
    /// First row shown.
    pub offset: usize,
    /// Rows the table shows at once (set when drawing), for PageUp/PageDown.
    pub page: usize,
}

impl App {
    pub fn new(pid: u32, command_line: String) -> Self {
        App {
            pid,
            command_line,
            sort: SortKey::Total,
            merge_threads: true,
            threads: Vec::new(),
            thread_names: FxHashMap::default(),
            thread_idx: 0,
            paused: false,
            disconnected: false,
            error: None,
            exit_status: None,
            samples: 0,
            elapsed_ms: 0,
            heap: 0,
            peak: 0,
            sample_every: 0,
            history: Vec::new(),
            table_heap: 0,
            groups: Vec::new(),
            rows: Vec::new(),
            offset: 0,
            page: 10,
        }
    }

    /// The thread shown when threads are not merged.
    pub fn current_thread(&self) -> Option<u32> {
        self.threads.get(self.thread_idx).copied()
    }

    /// Takes a new snapshot: the header always, the table unless paused.
    pub fn refresh(&mut self, d: &LiveData) {
        self.samples += 1;
        self.heap = d.heap();
        self.peak = d.peak();
        self.elapsed_ms = d.elapsed_ms();
        self.history = d.heap_history(HISTORY);
        self.disconnected = d.ended;
        self.error.clone_from(&d.error);
        for &t in d.threads() {
            if !self.threads.contains(&t) {
                self.threads.push(t);
            }
        }
        for &t in &self.threads {
            if let Some(name) = d.thread_name(t) {
                self.thread_names.insert(t, name.to_string());
            }
        }
        if !self.paused {
            self.groups = d.snapshot(false);
            self.table_heap = self.heap;
            self.rebuild(d);
        }
    }

    /// Recomputes the table from the snapshot shown, for the thread(s) selected.
    pub fn rebuild(&mut self, d: &LiveData) {
        let groups: Vec<Aggregate> = if self.merge_threads {
            self.groups.clone()
        } else {
            match self.current_thread() {
                Some(t) => self
                    .groups
                    .iter()
                    .filter(|g| g.thread == t)
                    .copied()
                    .collect(),
                None => Vec::new(),
            }
        };
        self.rows = d
            .rows(&groups, COVERAGE)
            .into_iter()
            .map(|(r, line)| Row {
                function: r.function,
                file: r.filename,
                line,
                total: r.total_bytes,
                own: r.own_bytes,
                count: r.count,
            })
            .collect();
        self.sort_rows();
    }

    fn sort_rows(&mut self) {
        let sort = self.sort;
        let key = move |r: &Row| match sort {
            SortKey::Total => r.total,
            SortKey::Own => r.own,
            SortKey::Allocations => r.count,
        };
        // Largest first; ties by name, so rows do not swap places between refreshes.
        self.rows.sort_by(|a, b| {
            key(b)
                .cmp(&key(a))
                .then_with(|| a.function.cmp(&b.function))
                .then_with(|| a.file.cmp(&b.file))
                .then_with(|| a.line.cmp(&b.line))
        });
        self.clamp_offset();
    }

    fn clamp_offset(&mut self) {
        let max = self.rows.len().saturating_sub(self.page.max(1));
        self.offset = self.offset.min(max);
    }

    fn scroll(&mut self, by: isize) {
        self.offset = self.offset.saturating_add_signed(by);
        self.clamp_offset();
    }

    pub fn handle_key(&mut self, k: KeyEvent) -> Action {
        if k.kind == KeyEventKind::Release {
            return Action::None;
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) {
            return match k.code {
                KeyCode::Char('c') | KeyCode::Char('d') => Action::Quit,
                _ => Action::None,
            };
        }
        let page = self.page.max(1) as isize;
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
            KeyCode::Char('t') => self.set_sort(SortKey::Total),
            KeyCode::Char('o') => self.set_sort(SortKey::Own),
            KeyCode::Char('a') => self.set_sort(SortKey::Allocations),
            KeyCode::Char('m') => {
                self.merge_threads = !self.merge_threads;
                self.offset = 0;
                Action::Rebuild
            }
            KeyCode::Char('<') | KeyCode::Left => self.switch_thread(-1),
            KeyCode::Char('>') | KeyCode::Right => self.switch_thread(1),
            KeyCode::Char(' ') => {
                // As in Memray, a view whose program has gone can be unpaused, not paused.
                if self.paused || !self.disconnected {
                    self.paused = !self.paused;
                }
                Action::Redraw
            }
            KeyCode::Up => {
                self.scroll(-1);
                Action::Redraw
            }
            KeyCode::Down => {
                self.scroll(1);
                Action::Redraw
            }
            KeyCode::PageUp => {
                self.scroll(-page);
                Action::Redraw
            }
            KeyCode::PageDown => {
                self.scroll(page);
                Action::Redraw
            }
            KeyCode::Home => {
                self.offset = 0;
                Action::Redraw
            }
            KeyCode::End => {
                self.offset = usize::MAX;
                self.clamp_offset();
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn set_sort(&mut self, key: SortKey) -> Action {
        self.sort = key;
        self.sort_rows();
        Action::Redraw
    }

    fn switch_thread(&mut self, by: isize) -> Action {
        if self.merge_threads || self.threads.is_empty() {
            return Action::None;
        }
        let n = self.threads.len() as isize;
        self.thread_idx = (self.thread_idx as isize + by).rem_euclid(n) as usize;
        self.offset = 0;
        Action::Rebuild
    }
}
