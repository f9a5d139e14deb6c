//! The MCP tool `get_performance_metrics`: its description; the question itself is
//! [`crate::queries::get_performance_metrics`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Show CodeSage's performance: requests and errors per tool with latency percentiles \
     (ms), uptime, memory use, index size and connections.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
