; CodeSage symbol query for C++.

(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier scope: (_) @scope name: (_) @name))) @definition.method
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (identifier) @name))) @definition.function
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(namespace_definition name: (_) @name) @definition.module
(type_definition declarator: (type_identifier) @name) @definition.type
(alias_declaration name: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name) @definition.constant
(translation_unit (declaration (type_qualifier) @_const
  declarator: (init_declarator declarator: (identifier) @name)
  (#match? @_const "^(const|constexpr)$")) @definition.constant)
(declaration_list (declaration (type_qualifier) @_const
  declarator: (init_declarator declarator: (identifier) @name)
  (#match? @_const "^(const|constexpr)$")) @definition.constant)
(preproc_function_def name: (identifier) @name) @definition.macro

(preproc_include path: (_) @import.module) @import
(using_declaration (_) @import.module) @import

(call_expression function: (identifier) @call.name) @call
(call_expression function: (field_expression field: (field_identifier) @call.name)) @call
(call_expression function: (qualified_identifier name: (identifier) @call.name)) @call
(call_expression function: (template_function name: (identifier) @call.name)) @call

[
  (if_statement) (for_statement) (for_range_loop) (while_statement) (do_statement)
  (case_statement) (catch_clause) (conditional_expression)
] @branch
(binary_expression operator: ["&&" "||"]) @branch
