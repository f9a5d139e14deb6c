; CodeSage symbol query for Python.
; Captures: @definition.<kind> with @name, @import (+ @import.module), @call (+ @call.name),
; @branch (decision points, for complexity).

(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement (assignment left: (identifier) @name)) @definition.constant
  (#match? @name "^[A-Z][A-Z0-9_]*$"))

(import_statement name: (dotted_name) @import.module) @import
(import_statement name: (aliased_import name: (dotted_name) @import.module)) @import
(import_from_statement module_name: (dotted_name) @import.module) @import
(import_from_statement module_name: (relative_import) @import.module) @import
(future_import_statement) @import

(call function: (identifier) @call.name) @call
(call function: (attribute attribute: (identifier) @call.name)) @call

[
  (if_statement) (elif_clause) (for_statement) (while_statement) (except_clause)
  (conditional_expression) (case_clause) (boolean_operator)
] @branch
