; CodeSage symbol query for Go.

(function_declaration name: (identifier) @name) @definition.function
(method_declaration
  receiver: (parameter_list (parameter_declaration type: [
    (type_identifier) @scope
    (pointer_type (type_identifier) @scope)
    (generic_type type: (type_identifier) @scope)
    (pointer_type (generic_type type: (type_identifier) @scope))
  ]))
  name: (field_identifier) @name) @definition.method
(method_declaration name: (field_identifier) @name) @definition.method
(type_declaration (type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct)
(type_declaration (type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface)
(type_declaration (type_spec name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (function_type) (map_type) (slice_type) (array_type)
         (pointer_type) (channel_type) (generic_type)]) @definition.type)
(const_declaration (const_spec name: (identifier) @name) @definition.constant)

(import_spec path: (interpreted_string_literal) @import.module) @import

(call_expression function: (identifier) @call.name) @call
(call_expression function: (selector_expression field: (field_identifier) @call.name)) @call

[
  (if_statement) (for_statement) (expression_case) (type_case) (communication_case)
] @branch
(binary_expression operator: ["&&" "||"]) @branch
