; CodeSage symbol query for Bash.

(function_definition name: (word) @name) @definition.function
(program (declaration_command (variable_assignment name: (variable_name) @name)) @definition.constant
  (#match? @name "^[A-Z][A-Z0-9_]*$"))

(command
  name: (command_name (word) @_source)
  argument: (_) @import.module
  (#match? @_source "^(source|\\.)$")) @import

(command name: (command_name (word) @call.name)) @call

[
  (if_statement) (elif_clause) (for_statement) (c_style_for_statement) (while_statement)
  (case_item) (ternary_expression)
] @branch
