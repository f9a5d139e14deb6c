//! The in-memory summary of one file's definitions, kept for every indexed file so name
//! lookups and root-wide listings never touch the store: fixed-size records in one array and
//! every name and qualifier in one string, so a file costs three allocations however many
//! symbols it defines (a record and two strings per symbol before: most of the daemon's
//! small long-lived allocations, which kept partly used allocator pages alive). A file whose
//! names, lines and symbol count all fit in 16 bits (nearly every file) keeps 12-byte
//! records instead of 24: 633,454 definitions on the benchmark corpus, 7.6 MB less.

use super::{Symbol, SymbolKind};

/// One definition, borrowed from its file's [`Definitions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition<'a> {
    /// The symbol's name.
    pub name: &'a str,
    /// Its index in the file's symbol list ([`super::FileSymbols::symbols`]).
    pub index: u32,
    /// First line of the definition.
    pub start_line: u32,
    /// Last line of the definition (so the symbol holding a line is known without reading
    /// the file's structure).
    pub end_line: u32,
    /// What it is.
    pub kind: SymbolKind,
    /// Whether it is documented.
    pub documented: bool,
    /// The enclosing symbol's index (its position in the same list), for `Type.member`
    /// lookups without reading the file's structure.
    pub parent: Option<u32>,
    /// The symbol's own qualifier ([`Symbol::scope`]).
    pub scope: Option<&'a str>,
}

const DOCUMENTED: u8 = 1;
const HAS_PARENT: u8 = 2;
const HAS_SCOPE: u8 = 4;

/// A definition's fixed part; its name is `text[previous record's scope_end..name_end]` and
/// its qualifier `text[name_end..scope_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    name_end: u32,
    scope_end: u32,
    start_line: u32,
    end_line: u32,
    parent: u32,
    kind: SymbolKind,
    flags: u8,
}

/// [`Record`] for a file whose text offsets, lines and symbol indexes fit in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NarrowRecord {
    name_end: u16,
    scope_end: u16,
    start_line: u16,
    end_line: u16,
    parent: u16,
    kind: SymbolKind,
    flags: u8,
}

impl NarrowRecord {
    /// The narrow form of `record`, when every field fits.
    fn of(record: &Record) -> Option<NarrowRecord> {
        let narrow = |value: u32| u16::try_from(value).ok();
        Some(NarrowRecord {
            name_end: narrow(record.name_end)?,
            scope_end: narrow(record.scope_end)?,
            start_line: narrow(record.start_line)?,
            end_line: narrow(record.end_line)?,
            parent: narrow(record.parent)?,
            kind: record.kind,
            flags: record.flags,
        })
    }

    fn widen(&self) -> Record {
        Record {
            name_end: self.name_end.into(),
            scope_end: self.scope_end.into(),
            start_line: self.start_line.into(),
            end_line: self.end_line.into(),
            parent: self.parent.into(),
            kind: self.kind,
            flags: self.flags,
        }
    }
}

/// A file's records, narrow when all of them fit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Records {
    Narrow(Box<[NarrowRecord]>),
    Wide(Box<[Record]>),
}

impl Default for Records {
    fn default() -> Records {
        Records::Narrow(Box::default())
    }
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::Narrow(records) => records.len(),
            Records::Wide(records) => records.len(),
        }
    }

    fn get(&self, index: usize) -> Option<Record> {
        match self {
            Records::Narrow(records) => records.get(index).map(NarrowRecord::widen),
            Records::Wide(records) => records.get(index).copied(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Records::Narrow(records) => std::mem::size_of_val(&**records),
            Records::Wide(records) => std::mem::size_of_val(&**records),
        }
    }
}

/// A file's definitions in source order (the order of its symbol list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Definitions {
    records: Records,
    text: Box<str>,
}

impl Definitions {
    /// The summary of a file's symbols.
    pub fn of(symbols: &[Symbol]) -> Definitions {
        symbols
            .iter()
            .enumerate()
            .map(|(index, symbol)| Definition {
                name: &symbol.name,
                index: index as u32,
                start_line: symbol.start_line,
                end_line: symbol.end_line,
                kind: symbol.kind,
                documented: symbol.documented,
                parent: symbol.parent,
                scope: symbol.scope.as_deref(),
            })
            .collect()
    }

    /// How many definitions the file has.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the file defines nothing.
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// Definition `index` (its position in the file's symbol list).
    pub fn get(&self, index: usize) -> Option<Definition<'_>> {
        Some(self.view(index, &self.records.get(index)?))
    }

    /// Every definition, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Definition<'_>> + ExactSizeIterator {
        (0..self.len()).map(|index| self.view(index, &self.record(index)))
    }

    /// Every definition's first and last line, in order: the cheap scan for questions about
    /// lines only.
    pub fn spans(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.len()).map(|index| {
            let record = self.record(index);
            (record.start_line, record.end_line)
        })
    }

    /// Every definition's name with its index: the cheap scan for name lookups, which need
    /// the rest of a definition only when its name is the one asked for.
    pub fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        let mut start = 0;
        (0..self.len()).map(move |index| {
            let record = self.record(index);
            let name = self.text.get(start..record.name_end as usize);
            start = record.scope_end as usize;
            (index, name.unwrap_or_default())
        })
    }

    /// The number of definitions, from the start, for which `before` holds, given that it
    /// holds for a prefix of them (as [`slice::partition_point`]).
    pub fn partition_point(&self, before: impl Fn(Definition<'_>) -> bool) -> usize {
        let (mut low, mut high) = (0, self.records.len());
        while low < high {
            let middle = low + (high - low) / 2;
            if before(self.view(middle, &self.record(middle))) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// Record `index`, which exists (callers range over `0..len`).
    fn record(&self, index: usize) -> Record {
        const NONE: Record = Record {
            name_end: 0,
            scope_end: 0,
            start_line: 0,
            end_line: 0,
            parent: 0,
            kind: SymbolKind::Function,
            flags: 0,
        };
        self.records.get(index).unwrap_or(NONE)
    }

    /// Record `index` with its strings.
    fn view<'a>(&'a self, index: usize, record: &Record) -> Definition<'a> {
        let name_start = match index.checked_sub(1) {
            Some(previous) => self.record(previous).scope_end as usize,
            None => 0,
        };
        let text = |from: usize, to: u32| self.text.get(from..to as usize).unwrap_or_default();
        Definition {
            name: text(name_start, record.name_end),
            index: index as u32,
            start_line: record.start_line,
            end_line: record.end_line,
            kind: record.kind,
            documented: record.flags & DOCUMENTED != 0,
            parent: (record.flags & HAS_PARENT != 0).then_some(record.parent),
            scope: (record.flags & HAS_SCOPE != 0)
                .then(|| text(record.name_end as usize, record.scope_end)),
        }
    }

    /// Heap bytes held: the records and the text.
    pub fn heap_bytes(&self) -> usize {
        self.records.heap_bytes() + self.text.len()
    }
}

impl<'a> FromIterator<Definition<'a>> for Definitions {
    /// Packs definitions given in index order (their `index` fields are not kept: a
    /// definition's index is its position).
    fn from_iter<I: IntoIterator<Item = Definition<'a>>>(definitions: I) -> Definitions {
        let mut records = Vec::new();
        let mut text = String::new();
        for definition in definitions {
            text.push_str(definition.name);
            let name_end = text.len() as u32;
            text.push_str(definition.scope.unwrap_or_default());
            let flags = (u8::from(definition.documented) * DOCUMENTED)
                | (u8::from(definition.parent.is_some()) * HAS_PARENT)
                | (u8::from(definition.scope.is_some()) * HAS_SCOPE);
            records.push(Record {
                name_end,
                scope_end: text.len() as u32,
                start_line: definition.start_line,
                end_line: definition.end_line,
                parent: definition.parent.unwrap_or(0),
                kind: definition.kind,
                flags,
            });
        }
        let narrow: Option<Box<[NarrowRecord]>> = records.iter().map(NarrowRecord::of).collect();
        Definitions {
            records: match narrow {
                Some(narrow) => Records::Narrow(narrow),
                None => Records::Wide(records.into_boxed_slice()),
            },
            text: text.into_boxed_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition<'a>(
        name: &'a str,
        lines: (u32, u32),
        parent: Option<u32>,
        scope: Option<&'a str>,
    ) -> Definition<'a> {
        Definition {
            name,
            index: 0,
            start_line: lines.0,
            end_line: lines.1,
            kind: SymbolKind::Function,
            documented: name.len().is_multiple_of(2),
            parent,
            scope,
        }
    }

    #[test]
    fn every_field_comes_back_as_given_with_its_position_as_index() {
        let given = [
            definition("Parser", (1, 40), None, None),
            definition("parse", (3, 10), Some(0), None),
            // An empty qualifier is not an absent one; a parent of 0 is not none.
            definition("", (12, 12), Some(0), Some("")),
            definition("área_ü", (20, 30), None, Some("geo::Polygon")),
            definition("x", (u32::MAX, u32::MAX), Some(u32::MAX), Some("a.b")),
        ];
        let packed: Definitions = given.iter().copied().collect();
        assert_eq!(packed.len(), given.len());
        assert!(!packed.is_empty());
        for (index, (got, want)) in packed.iter().zip(&given).enumerate() {
            assert_eq!(
                got,
                Definition {
                    index: index as u32,
                    ..*want
                }
            );
            assert_eq!(packed.get(index), Some(got));
        }
        assert_eq!(packed.get(given.len()), None);
        let names: Vec<(usize, &str)> = packed.names().collect();
        let expected: Vec<(usize, &str)> = given.iter().map(|d| d.name).enumerate().collect();
        assert_eq!(names, expected);
        assert_eq!(packed.iter().next_back().map(|d| d.name), Some("x"));
        // Names and qualifiers in one string, records of fixed size.
        let text: usize = given
            .iter()
            .map(|d| d.name.len() + d.scope.map_or(0, str::len))
            .sum();
        assert_eq!(
            packed.heap_bytes(),
            text + given.len() * std::mem::size_of::<Record>()
        );
        assert!(Definitions::default().is_empty());
        assert_eq!(Definitions::default().iter().count(), 0);
    }

    #[test]
    fn records_are_narrow_when_every_field_fits_sixteen_bits_and_wide_otherwise() {
        let limit = u32::from(u16::MAX);
        let narrow_file = [
            definition("Parser", (1, limit), None, Some("m")),
            definition("parse", (limit, limit), Some(0), None),
        ];
        let packed: Definitions = narrow_file.iter().copied().collect();
        assert!(matches!(packed.records, Records::Narrow(_)));
        assert_eq!(packed.heap_bytes(), "Parsermparse".len() + 2 * 12);
        let wide_file = [
            definition("Parser", (1, limit + 1), None, None),
            definition("parse", (3, 10), Some(0), None),
        ];
        let wide: Definitions = wide_file.iter().copied().collect();
        assert!(matches!(wide.records, Records::Wide(_)));
        for (given, packed) in [(&narrow_file, &packed), (&wide_file, &wide)] {
            let back: Vec<Definition<'_>> = packed.iter().collect();
            let expected: Vec<Definition<'_>> = given
                .iter()
                .enumerate()
                .map(|(index, d)| Definition {
                    index: index as u32,
                    ..*d
                })
                .collect();
            assert_eq!(back, expected);
            let spans: Vec<(u32, u32)> = packed.spans().collect();
            let lines: Vec<(u32, u32)> = given.iter().map(|d| (d.start_line, d.end_line)).collect();
            assert_eq!(spans, lines);
        }
        // A text longer than 16 bits of offsets makes the file wide too.
        let long_name = "n".repeat(70_000);
        let long: Definitions = [definition(&long_name, (1, 2), None, None)]
            .into_iter()
            .collect();
        assert!(matches!(long.records, Records::Wide(_)));
        assert_eq!(long.get(0).map(|d| d.name.len()), Some(70_000));
    }

    #[test]
    fn partition_point_finds_the_first_definition_a_predicate_stops_holding_for() {
        let packed: Definitions = [(1, 5), (6, 9), (6, 7), (12, 20)]
            .into_iter()
            .map(|lines| definition("f", lines, None, None))
            .collect();
        for (line, expected) in [(0, 0), (1, 1), (5, 1), (6, 3), (11, 3), (12, 4), (99, 4)] {
            assert_eq!(
                packed.partition_point(|d| d.start_line <= line),
                expected,
                "line {line}"
            );
        }
        assert_eq!(Definitions::default().partition_point(|_| true), 0);
    }

    #[test]
    fn a_file_s_symbols_make_the_same_summary() {
        let symbols = crate::symbols::extract(
            "Rust",
            b"/// Doc.\nstruct S;\nimpl S {\n    fn new() -> S { S }\n}\n",
        )
        .unwrap();
        assert!(symbols.symbols.len() >= 3, "{:?}", symbols.symbols);
        let packed = Definitions::of(&symbols.symbols);
        assert_eq!(packed.len(), symbols.symbols.len());
        for (definition, symbol) in packed.iter().zip(&symbols.symbols) {
            assert_eq!(definition.name, symbol.name);
            assert_eq!(definition.parent, symbol.parent);
            assert_eq!(definition.scope, symbol.scope.as_deref());
            assert_eq!(definition.documented, symbol.documented);
            assert_eq!(
                (definition.start_line, definition.end_line),
                (symbol.start_line, symbol.end_line)
            );
        }
    }
}
