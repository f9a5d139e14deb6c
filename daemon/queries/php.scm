; CodeSage symbol query for PHP.

(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum
(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.method
(namespace_definition name: (namespace_name) @name) @definition.module
(const_declaration (const_element (name) @name)) @definition.constant

(namespace_use_declaration (namespace_use_clause . [(name) (qualified_name)] @import.module)) @import
(expression_statement (require_once_expression (_) @import.module)) @import
(expression_statement (require_expression (_) @import.module)) @import
(expression_statement (include_once_expression (_) @import.module)) @import
(expression_statement (include_expression (_) @import.module)) @import

(function_call_expression function: [(name) (qualified_name)] @call.name) @call
(member_call_expression name: (name) @call.name) @call
(scoped_call_expression name: (name) @call.name) @call
(object_creation_expression [(name) (qualified_name)] @call.name) @call

[
  (if_statement) (else_if_clause) (for_statement) (foreach_statement) (while_statement)
  (do_statement) (case_statement) (catch_clause) (conditional_expression)
  (match_conditional_expression)
] @branch
(binary_expression operator: ["&&" "||" "and" "or"]) @branch
