; CodeSage symbol query for Ruby.

(class name: [(constant) (scope_resolution)] @name) @definition.class
(module name: [(constant) (scope_resolution)] @name) @definition.module
(method name: (_) @name) @definition.method
(singleton_method name: (_) @name) @definition.method
(program (assignment left: (constant) @name) @definition.constant)
(class (body_statement (assignment left: (constant) @name) @definition.constant))
(module (body_statement (assignment left: (constant) @name) @definition.constant))

(call
  method: (identifier) @_require
  arguments: (argument_list (string (string_content) @import.module))
  (#match? @_require "^(require|require_relative|load)$")) @import

(call method: (identifier) @call.name) @call

[
  (if) (elsif) (unless) (while) (until) (for) (when) (rescue) (conditional)
  (if_modifier) (unless_modifier)
] @branch
