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

    /// Cyclomatic complexity (decision points + 1) of the one function in `source`, counted
    /// by hand in each case's comment.
    fn complexity(language: &'static str, source: &str) -> u32 {
        let symbols = crate::symbols::extract(language, source.as_bytes()).unwrap();
        let function = symbols
            .symbols
            .iter()
            .find(|symbol| symbol.kind.is_callable())
            .unwrap_or_else(|| panic!("no function in {source}"));
        function.cyclomatic()
    }

    #[test]
    fn cyclomatic_complexity_per_language() {
        // if, and, elif, or, for, while, except, conditional expression: 8 + 1
        let python = "def f(a, b):\n    if a and b:\n        return 1\n    elif a or b:\n        return 2\n    for x in a:\n        while x:\n            x -= 1\n    try:\n        pass\n    except ValueError:\n        pass\n    return 3 if a else 4\n";
        assert_eq!(complexity("Python", python), 9);
        // if, &&, for, while, a 3-arm match (2), the if inside it, ||, `?`: 9 + 1
        let rust = "fn f(a: bool, b: bool, n: u32) -> Option<u32> {\n    if a && b { return Some(1); }\n    for _ in 0..n {}\n    while a {}\n    let x = match n { 0 => 1, 1 => 4, _ => if a || b { 2 } else { 3 } };\n    Some(x + g()?)\n}\n";
        assert_eq!(complexity("Rust", rust), 10);
        // if, ||, for, for-in, while, do, case × 2, catch, ternary, ??: 11 + 1
        let js = "function f(a, b) {\n  if (a || b) {}\n  for (let i = 0; i < 3; i++) {}\n  for (const k in a) {}\n  while (a) {}\n  do {} while (b);\n  switch (a) { case 1: break; case 2: break; default: break; }\n  try {} catch (e) {}\n  return a ? b : (a ?? b);\n}\n";
        assert_eq!(complexity("JavaScript", js), 12);
        assert_eq!(
            complexity("TypeScript", &js.replace("(a, b)", "(a: any, b: any)")),
            12
        );
        // A callback's decisions are its own (lizard and McCabe count it as a function
        // apart), not its caller's: if + 1; a named arrow function keeps its own: if, && + 1.
        let callback = "function f(xs) {\n  if (xs) {}\n  xs.forEach((x) => { if (x) {} while (x) {} });\n  xs.map(function (y) { return y ? 1 : 2; });\n}\n";
        assert_eq!(complexity("JavaScript", callback), 2);
        let named = "const g = (a) => {\n  if (a) {}\n  return a && 1;\n};\n";
        assert_eq!(complexity("JavaScript", named), 3);
        // if, &&, for, expression case × 2: 5 + 1
        let go = "package p\nfunc f(a, b bool, n int) int {\n\tif a && b {\n\t\treturn 1\n\t}\n\tfor i := 0; i < n; i++ {\n\t}\n\tswitch n {\n\tcase 1:\n\t\treturn 1\n\tcase 2:\n\t\treturn 2\n\t}\n\treturn 0\n}\n";
        assert_eq!(complexity("Go", go), 6);
        // if, ||, enhanced for, while, switch label × 2 (case, default), catch, ternary: 8 + 1
        let java = "class A {\n  int f(int a, int[] xs) {\n    if (a > 0 || a < -5) {}\n    for (int x : xs) {}\n    while (a > 0) { a--; }\n    switch (a) { case 1: break; default: break; }\n    try { a++; } catch (Exception e) {}\n    return a > 0 ? 1 : 2;\n  }\n}\n";
        assert_eq!(complexity("Java", java), 9);
        // if, &&, for, while, do, case × 2, conditional: 8 + 1
        let c = "int f(int a, int b) {\n  if (a && b) {}\n  for (int i = 0; i < a; i++) {}\n  while (a) { a--; }\n  do { b--; } while (b);\n  switch (a) { case 1: break; case 2: break; }\n  return a ? 1 : 2;\n}\n";
        assert_eq!(complexity("C", c), 9);
        // C's points plus a range-for and a catch: 10 + 1
        let cpp = "int f(int a, std::vector<int> v) {\n  if (a && a > 1) {}\n  for (int i = 0; i < a; i++) {}\n  for (int x : v) {}\n  while (a) { a--; }\n  do { a++; } while (a < 0);\n  switch (a) { case 1: break; case 2: break; }\n  try { a++; } catch (...) {}\n  return a ? 1 : 2;\n}\n";
        assert_eq!(complexity("C++", cpp), 11);
        // if, ||, foreach, switch section × 2, catch, ??: 7 + 1
        let csharp = "class A {\n  int F(int a, int[] xs, string s) {\n    if (a > 0 || a < -1) {}\n    foreach (var x in xs) {}\n    switch (a) { case 1: break; default: break; }\n    try { a++; } catch (System.Exception) {}\n    var t = s ?? \"x\";\n    return a;\n  }\n}\n";
        assert_eq!(complexity("C#", csharp), 8);
        // if, elsif, unless modifier, while, when × 2, rescue: 7 + 1
        let ruby = "def f(a, b)\n  if a\n    1\n  elsif b\n    2\n  end\n  return 3 unless a\n  while a\n    a -= 1\n  end\n  case b\n  when 1 then 1\n  when 2 then 2\n  end\nrescue StandardError\n  0\nend\n";
        assert_eq!(complexity("Ruby", ruby), 8);
        // if, else if, foreach, &&, case × 2, catch: 7 + 1
        let php = "<?php\nfunction f($a, $b) {\n  if ($a && $b) {} elseif ($b) {}\n  foreach ($a as $x) {}\n  switch ($a) { case 1: break; case 2: break; }\n  try { $a++; } catch (Exception $e) {}\n  return $a;\n}\n";
        assert_eq!(complexity("PHP", php), 8);
        // if, elif, for, while, case item × 2: 6 + 1
        let bash = "f() {\n  if [ \"$1\" ]; then\n    echo a\n  elif [ \"$2\" ]; then\n    echo b\n  fi\n  for x in a b; do echo $x; done\n  while false; do :; done\n  case $1 in\n    a) echo 1 ;;\n    b) echo 2 ;;\n  esac\n}\n";
        assert_eq!(complexity("Shell", bash), 7);
    }
}
