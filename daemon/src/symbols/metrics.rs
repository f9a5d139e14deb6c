//! Code-health measures of one function from its syntax tree: how many parameters it takes
//! and how deeply its control flow nests. (Its cyclomatic complexity is its `@branch`
//! decision points plus one; see the queries.)

use tree_sitter::Node;

/// Kinds of the node holding a function's parameters, across the grammars.
const PARAMETER_LISTS: &[&str] = &[
    "parameters",
    "formal_parameters",
    "parameter_list",
    "method_parameters",
    "lambda_parameters",
    "function_parameters",
];

/// Control structures whose bodies nest, across the grammars.
const NESTING: &[&str] = &[
    "if_statement",
    "if_expression",
    "if_let_expression",
    "for_statement",
    "for_expression",
    "for_in_statement",
    "for_range_loop",
    "foreach_statement",
    "enhanced_for_statement",
    "while_statement",
    "while_expression",
    "loop_expression",
    "do_statement",
    "switch_statement",
    "switch_expression",
    "expression_switch_statement",
    "type_switch_statement",
    "select_statement",
    "match_expression",
    "match_statement",
    "try_statement",
    "with_statement",
    "case_statement",
    "if",
    "unless",
    "while",
    "until",
    "for",
    "case",
    "begin",
    "if_modifier",
    "c_style_for_statement",
];

/// Body fields that are not where parameters are declared.
fn is_body(kind: &str) -> bool {
    kind == "block"
        || kind.ends_with("body")
        || kind == "compound_statement"
        || kind == "statement_block"
}

/// The parameter list of the function `node`, searched a few levels down (a C declarator, a
/// JavaScript variable holding an arrow function) but never inside its body.
fn parameter_list(node: Node<'_>) -> Option<Node<'_>> {
    if let Some(list) = node.child_by_field_name("parameters") {
        return Some(list);
    }
    let mut frontier = vec![(node, 0)];
    while let Some((current, depth)) = frontier.pop() {
        let mut cursor = current.walk();
        for child in current.named_children(&mut cursor) {
            if PARAMETER_LISTS.contains(&child.kind()) {
                return Some(child);
            }
            if depth < 3 && !is_body(child.kind()) {
                frontier.push((child, depth + 1));
            }
        }
    }
    None
}

/// Parameters the function `node` declares (a Go `a, b int` counts two; C's `(void)` none).
pub fn parameter_count(node: Node<'_>, content: &[u8]) -> u32 {
    let Some(list) = parameter_list(node) else {
        return 0;
    };
    let mut count = 0;
    let mut cursor = list.walk();
    for parameter in list.named_children(&mut cursor) {
        let kind = parameter.kind();
        if kind.contains("comment") {
            continue;
        }
        if kind == "parameter_declaration" || kind == "variadic_parameter_declaration" {
            // Go declares several names for one type; C has a single one, or `void`.
            let mut names = parameter.walk();
            let named = parameter.children_by_field_name("name", &mut names).count() as u32;
            if named > 0 {
                count += named;
                continue;
            }
            if &content[parameter.byte_range()] == b"void" {
                continue;
            }
        }
        count += 1;
    }
    count
}

/// The deepest nesting of control structures inside the function `node` (0: straight-line
/// code).
pub fn nesting_depth(node: Node<'_>) -> u32 {
    let mut deepest = 0;
    let mut stack = vec![(node, 0u32)];
    while let Some((current, depth)) = stack.pop() {
        let mut cursor = current.walk();
        for child in current.named_children(&mut cursor) {
            let nested = if NESTING.contains(&child.kind()) {
                depth + 1
            } else {
                depth
            };
            deepest = deepest.max(nested);
            stack.push((child, nested));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function<'tree>(tree: &'tree tree_sitter::Tree, kinds: &[&str]) -> Node<'tree> {
        let mut stack = vec![tree.root_node()];
        while let Some(node) = stack.pop() {
            if kinds.contains(&node.kind()) {
                return node;
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        panic!("no {kinds:?}");
    }

    fn measure(language: &str, source: &str, kinds: &[&str]) -> (u32, u32) {
        let grammar = crate::symbols::grammars::for_language(language).unwrap();
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&grammar.language).unwrap();
        let tree = parser.parse(source, None).unwrap();
        let node = function(&tree, kinds);
        (
            parameter_count(node, source.as_bytes()),
            nesting_depth(node),
        )
    }

    #[test]
    fn parameters_and_nesting_per_language() {
        let python = "def f(self, a, b=1, *args, **kw):\n    for x in a:\n        if x:\n            while b:\n                pass\n    return 1\n";
        assert_eq!(measure("Python", python, &["function_definition"]), (5, 3));
        let rust = "fn f(&self, a: u32, b: &str) -> u32 { if a > 0 { for _ in 0..a { } } match b { _ => 0 } }";
        assert_eq!(measure("Rust", rust, &["function_item"]), (3, 2));
        let go = "package p\nfunc f(a, b int, c string) int { if a > 0 { for { } }; return 0 }\n";
        assert_eq!(measure("Go", go, &["function_declaration"]), (3, 2));
        let c = "int f(void) { if (1) { while (0) { if (2) {} } } return 0; }";
        assert_eq!(measure("C", c, &["function_definition"]), (0, 3));
        let c2 = "int g(int a, char *b) { return a; }";
        assert_eq!(measure("C", c2, &["function_definition"]), (2, 0));
        let js = "const h = (a, b) => { try { if (a) { return b; } } catch (e) {} };";
        assert_eq!(measure("JavaScript", js, &["arrow_function"]), (2, 2));
        let java = "class A { int m(int a, String b) { switch (a) { case 1: if (b == null) { return 0; } } return 1; } }";
        assert_eq!(measure("Java", java, &["method_declaration"]), (2, 2));
        let ruby =
            "def m(a, b = 2)\n  if a\n    b.each do |x|\n      puts x\n    end\n  end\nend\n";
        assert_eq!(measure("Ruby", ruby, &["method"]), (2, 1));
    }
}
