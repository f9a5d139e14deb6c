; CodeSage symbol query patterns shared by JavaScript and TypeScript (prepended to
; javascript.scm and typescript.scm, which add what only their grammar has).

(class_declaration name: (_) @name) @definition.class
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(method_definition name: (_) @name) @definition.method
(pair key: (property_identifier) @name value: [(function_expression) (arrow_function)]) @definition.function
(pair key: (string (string_fragment) @name) value: [(function_expression) (arrow_function)]) @definition.function
;; `obj.name = function …` (prototypes, `exports.name`, `app.render`) and `name = () => …`;
;; `module.exports = …` is not a definition of anything named "exports".
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(function_expression) (arrow_function)]
  (#not-eq? @name "exports")) @definition.function
(assignment_expression
  left: (identifier) @name
  right: [(function_expression) (arrow_function)]) @definition.function
(lexical_declaration
  (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @definition.function)
(variable_declaration
  (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @definition.function)
(program (lexical_declaration
  (variable_declarator name: (identifier) @name value: [(string) (number) (template_string)]) @definition.constant)
  (#match? @name "^[A-Z][A-Z0-9_]*$"))
(program (export_statement declaration: (lexical_declaration
  (variable_declarator name: (identifier) @name value: [(string) (number) (template_string)]) @definition.constant))
  (#match? @name "^[A-Z][A-Z0-9_]*$"))

(import_statement source: (string (string_fragment) @import.module)) @import

(call_expression function: (identifier) @call.name) @call
(call_expression function: (member_expression property: (property_identifier) @call.name)) @call
(new_expression constructor: (identifier) @call.name) @call

[
  (if_statement) (for_statement) (for_in_statement) (while_statement) (do_statement)
  (switch_case) (catch_clause) (ternary_expression)
] @branch
(binary_expression operator: ["&&" "||" "??"]) @branch
;; A callback is a function of its own for complexity (lizard and McCabe count it apart):
;; the decisions inside it are not its caller's.
(arguments [(function_expression) (arrow_function)] @anonymous)
