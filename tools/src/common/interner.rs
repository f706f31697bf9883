//! A string table: each distinct string stored once and named by its index, with `""` as
//! index 0 (the flame graph page's `strings` and pprof's `string_table` both want that).

use rustc_hash::FxHashMap;

/// Interns strings, numbering them in order of first use with indices of type `I`.
pub struct Interner<I> {
    index: FxHashMap<String, I>,
    strings: Vec<String>,
}

impl<I: Copy + TryFrom<usize>> Interner<I> {
    /// A table holding only `""`, as index 0.
    pub fn new() -> Self {
        let mut table = Interner {
            index: FxHashMap::default(),
            strings: Vec::new(),
        };
        table.get("");
        table
    }

    /// The index of `s`, added to the table if it is new.
    pub fn get(&mut self, s: &str) -> I {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let Ok(i) = I::try_from(self.strings.len()) else {
            panic!("more strings than the index type can number");
        };
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// The strings, in index order.
    pub fn into_strings(self) -> Vec<String> {
        self.strings
    }
}

impl<I: Copy + TryFrom<usize>> Default for Interner<I> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Interner;

    #[test]
    fn empty_string_first_then_order_of_first_use() {
        let mut t: Interner<u32> = Interner::new();
        assert_eq!(
            (t.get("b"), t.get("a"), t.get("b"), t.get("")),
            (1, 2, 1, 0)
        );
        assert_eq!(t.into_strings(), ["", "b", "a"]);
    }
}
