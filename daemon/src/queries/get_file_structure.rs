//! `get_file_structure(codebase_path?, file_path)`: a file's outline — classes, functions,
//! methods and the rest as a nested tree with line ranges, signatures, documentation flags
//! and symbol ids — plus its imports, from the symbol index (or parsed on the spot for a file
//! the index leaves out).
//!
//! Pages cut the outline in source order (a symbol, then the symbols inside it): a page that
//! starts inside a class repeats the class, marked `continued`, to hold its remaining
//! members, so every symbol is listed exactly once across pages.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::scope::RootScope;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::structure::outline::{self, OutlineImport, OutlineNode};

/// Imports listed (on the first page) at most.
const MAX_IMPORTS: usize = 200;

/// Parameters of `get_file_structure` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase the file is in; a relative file_path is taken relative to it.
    /// Optional when file_path is absolute or the codebase is the client's workspace.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// The file: absolute, or relative to the codebase root.
    pub file_path: String,
    /// Paging: `max_results` counts symbols (nested ones included).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// A file's outline.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Path relative to the root.
    pub file_path: String,
    /// The root.
    pub root: String,
    /// Detected language.
    pub language: String,
    /// Top-level symbols, each with its nested ones.
    pub symbols: Vec<OutlineNode>,
    /// Import statements (on the first page, at most 200).
    pub imports: Vec<OutlineImport>,
    /// Import statements in the file.
    pub imports_total: usize,
    /// Symbols per kind, in the whole file.
    pub counts: BTreeMap<String, usize>,
    /// The file has syntax errors; the outline holds what parsed.
    pub has_syntax_errors: bool,
    /// The file is not in the index (ignored or excluded) and was parsed from disk.
    pub parsed_from_disk: bool,
}

/// Symbols per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "symbols",
        default: 1000,
        max: 10_000,
    }
}

/// One outline node without its children, where it sits in the tree, in source order.
#[derive(Debug, Clone, Serialize)]
pub struct FlatNode {
    #[serde(skip)]
    index: usize,
    #[serde(skip)]
    parent: Option<usize>,
    #[serde(flatten)]
    node: OutlineNode,
}

/// The outline's nodes in source order (each before the nodes inside it).
pub fn flatten(nodes: Vec<OutlineNode>) -> Vec<FlatNode> {
    fn walk(nodes: Vec<OutlineNode>, parent: Option<usize>, out: &mut Vec<FlatNode>) {
        for mut node in nodes {
            let children = std::mem::take(&mut node.children);
            let index = out.len();
            out.push(FlatNode {
                index,
                parent,
                node,
            });
            walk(children, Some(index), out);
        }
    }
    let mut out = Vec::new();
    walk(nodes, None, &mut out);
    out
}

/// The tree of one page of flattened nodes: each with the ancestors it needs (marked
/// `continued` when they belong to an earlier page).
pub fn rebuild(page: &[FlatNode], all: &[FlatNode]) -> Vec<OutlineNode> {
    let listed: HashSet<usize> = page.iter().map(|node| node.index).collect();
    let mut forest: Vec<OutlineNode> = Vec::new();
    // Flat index → positions from the forest down to the placed node.
    let mut placed: HashMap<usize, Vec<usize>> = HashMap::new();
    fn place(
        index: usize,
        all: &[FlatNode],
        listed: &HashSet<usize>,
        forest: &mut Vec<OutlineNode>,
        placed: &mut HashMap<usize, Vec<usize>>,
    ) -> Vec<usize> {
        if let Some(path) = placed.get(&index) {
            return path.clone();
        }
        let parent_path = all[index]
            .parent
            .map(|parent| place(parent, all, listed, forest, placed));
        let mut node = all[index].node.clone();
        node.continued = !listed.contains(&index);
        let siblings = match &parent_path {
            None => &mut *forest,
            Some(path) => {
                let mut at = &mut forest[path[0]];
                for &step in &path[1..] {
                    at = &mut at.children[step];
                }
                &mut at.children
            }
        };
        siblings.push(node);
        let mut path = parent_path.unwrap_or_default();
        path.push(siblings.len() - 1);
        placed.insert(index, path.clone());
        path
    }
    for node in page {
        place(node.index, all, &listed, &mut forest, &mut placed);
    }
    forest
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), &params.file_path)?;
    let scope = RootScope::whole(Arc::clone(&root));
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            outline::file_structure(scope, &relative)
        })
        .await?;
    let outline = on.value;
    let first_page = pager.offset() == 0;
    let imports_total = outline.imports.len();
    let imports: Vec<OutlineImport> = if first_page {
        outline.imports.into_iter().take(MAX_IMPORTS).collect()
    } else {
        Vec::new()
    };
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    if first_page && imports_total > MAX_IMPORTS {
        base.notes.push(format!(
            "{MAX_IMPORTS} of the file's {imports_total} import statements are listed"
        ));
    }
    let all = Arc::new(flatten(outline.symbols));
    let counts: BTreeMap<String, usize> = outline
        .counts
        .into_iter()
        .map(|(kind, count)| (kind.to_string(), count))
        .collect();
    let root_text = root.path.display().to_string();
    let nodes = all.as_ref().clone();
    pager.answer(base, nodes, Extent::Complete, |page| Output {
        file_path: outline.file_path.clone(),
        root: root_text.clone(),
        language: outline.language.clone(),
        symbols: rebuild(&page, &all),
        imports: imports.clone(),
        imports_total,
        counts: counts.clone(),
        has_syntax_errors: outline.has_syntax_errors,
        parsed_from_disk: outline.parsed_from_disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, children: Vec<OutlineNode>) -> OutlineNode {
        OutlineNode {
            name: name.into(),
            symbol_id: format!("f#{name}"),
            kind: "function",
            start_line: 1,
            end_line: 1,
            signature: String::new(),
            documented: false,
            scope: None,
            continued: false,
            children,
        }
    }

    fn names(nodes: &[OutlineNode], out: &mut Vec<String>) {
        for node in nodes {
            if !node.continued {
                out.push(node.name.clone());
            }
            names(&node.children, out);
        }
    }

    #[test]
    fn pages_of_an_outline_list_every_symbol_once_under_its_ancestors() {
        let tree = vec![
            node("A", vec![node("a1", vec![node("a1x", vec![])]), node("a2", vec![])]),
            node("B", vec![node("b1", vec![])]),
        ];
        let all = flatten(tree.clone());
        assert_eq!(all.len(), 6);
        assert_eq!(rebuild(&all, &all), tree, "one page is the whole outline");
        let mut listed = Vec::new();
        for page in all.chunks(2) {
            let rebuilt = rebuild(page, &all);
            names(&rebuilt, &mut listed);
        }
        assert_eq!(listed, ["A", "a1", "a1x", "a2", "B", "b1"]);
        // The page starting at a1x repeats A and a1 as continued ancestors.
        let second = rebuild(&all[2..4], &all);
        assert_eq!(second.len(), 1);
        assert!(second[0].continued && second[0].name == "A");
        assert!(second[0].children[0].continued && second[0].children[0].name == "a1");
        assert_eq!(second[0].children[0].children[0].name, "a1x");
        assert_eq!(second[0].children[1].name, "a2");
        assert!(!second[0].children[1].continued);
    }
}
