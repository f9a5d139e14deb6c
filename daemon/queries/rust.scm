; CodeSage symbol query for Rust.

(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(mod_item name: (identifier) @name) @definition.module
(macro_definition name: (identifier) @name) @definition.macro
(impl_item type: [
  (type_identifier) @name
  (generic_type type: (type_identifier) @name)
  (scoped_type_identifier name: (type_identifier) @name)
  (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
]) @definition.impl
(impl_item type: [(primitive_type) (reference_type) (array_type) (tuple_type)] @name) @definition.impl

(use_declaration argument: (_) @import.module) @import
(extern_crate_declaration name: (identifier) @import.module) @import

(call_expression function: (identifier) @call.name) @call
(call_expression function: (field_expression field: (field_identifier) @call.name)) @call
(call_expression function: (scoped_identifier name: (identifier) @call.name)) @call
(call_expression function: (generic_function function: (identifier) @call.name)) @call
(macro_invocation macro: (identifier) @call.name) @call

; `loop` decides nothing itself: its exits are the `if`s and matches inside.
[
  (if_expression) (for_expression) (while_expression) (try_expression)
] @branch
; A match of N arms decides N - 1 times (as a switch's cases do): every arm but the last.
(match_block (match_arm) @branch . (match_arm))
(binary_expression operator: ["&&" "||"]) @branch
