; CodeSage symbol query for C.

(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(type_definition declarator: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name) @definition.constant
(translation_unit (declaration (type_qualifier) @_const
  declarator: (init_declarator declarator: (identifier) @name)
  (#eq? @_const "const")) @definition.constant)
(preproc_function_def name: (identifier) @name) @definition.macro

(preproc_include path: (_) @import.module) @import

(call_expression function: (identifier) @call.name) @call
(call_expression function: (field_expression field: (field_identifier) @call.name)) @call

[
  (if_statement) (for_statement) (while_statement) (do_statement) (case_statement)
  (conditional_expression)
] @branch
(binary_expression operator: ["&&" "||"]) @branch
