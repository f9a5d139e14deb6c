; CodeSage symbol query for Java.

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(field_declaration
  (modifiers "static" "final")
  declarator: (variable_declarator name: (identifier) @name)) @definition.constant

(import_declaration (scoped_identifier) @import.module) @import
(import_declaration (identifier) @import.module) @import

(method_invocation name: (identifier) @call.name) @call
(object_creation_expression type: (type_identifier) @call.name) @call

[
  (if_statement) (for_statement) (enhanced_for_statement) (while_statement) (do_statement)
  (switch_label) (catch_clause) (ternary_expression)
] @branch
(binary_expression operator: ["&&" "||"]) @branch
