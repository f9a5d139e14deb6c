; CodeSage symbol query for JavaScript (and JSX), after ecmascript.scm.

(class name: (identifier) @name) @definition.class

(call_expression
  function: (identifier) @_require
  arguments: (arguments (string (string_fragment) @import.module))
  (#eq? @_require "require")) @import
