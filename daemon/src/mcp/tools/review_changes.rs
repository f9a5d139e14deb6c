//! The MCP tool `review_changes`: its description; the question itself is
//! [`crate::queries::review_changes`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Review a change before committing it (working tree or staged, \
     against HEAD or since a revision): code it copied from elsewhere, functions it pushed \
     past a complexity, length, nesting or parameter threshold, public functions it added \
     without documentation, TODO/FIXME markers it added, and changed functions whose tests \
     it did not touch or that no test calls. Each finding has its place, severity \
     (warning/info), measure, threshold and a one-line why; verdict is needs_attention when \
     any warning is found.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
