//! The one answer envelope every tool returns: the query's payload, flattened, plus `notes`,
//! `truncated`, `cursor`, `index_generation` and `partial`. MCP clients get it as
//! `structuredContent` (validated against the tool's `outputSchema`, which is this type's
//! schema) and as the text of the result; the command line gets the same object.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A query's answer: its payload and what the caller should know about it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Answer<T> {
    /// The payload (its fields appear at the top level of the answer).
    #[serde(flatten)]
    pub body: T,
    /// What the caller should know: freshness of the index, work still in progress, limits
    /// that were clamped, why results were left out. Empty when there is nothing to say.
    pub notes: Vec<String>,
    /// Set when results were left out of this answer (by `max_results`, by `max_tokens`, or
    /// by the tool's maximum); `cursor` then fetches the next page.
    pub truncated: Option<Truncated>,
    /// Pass it back (with the same arguments) to get the next page; null on the last page.
    /// Valid while the index does not change (`index_generation`).
    pub cursor: Option<String>,
    /// Generation of the index the answer was computed from; it grows with every change
    /// applied to the roots the answer covers. Null for answers that read no index.
    pub index_generation: Option<u64>,
    /// True when the work stopped early (deadline, cancellation) and the answer holds what
    /// was done by then.
    pub partial: bool,
}

/// What an answer left out.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Truncated {
    /// Results in this answer.
    pub shown: u64,
    /// Results in all (null when counting them would mean finishing the whole query; the
    /// cursor still reaches them).
    pub total: Option<u64>,
    /// About how many tokens the results after this page would take (null when unknown).
    pub omitted_tokens: Option<u64>,
}

impl<T> Answer<T> {
    /// A complete answer with no notes.
    pub fn new(body: T) -> Answer<T> {
        Answer {
            body,
            notes: Vec::new(),
            truncated: None,
            cursor: None,
            index_generation: None,
            partial: false,
        }
    }

    /// With these notes added.
    pub fn with_notes(mut self, notes: impl IntoIterator<Item = String>) -> Answer<T> {
        self.notes.extend(notes);
        self
    }

    /// With the index generation it was computed from.
    pub fn at_generation(mut self, generation: u64) -> Answer<T> {
        self.index_generation = Some(generation);
        self
    }
}

impl<T: Serialize> Answer<T> {
    /// The answer as the text of the JSON object tools return (a flattened payload is always
    /// an object: serde refuses to flatten anything else).
    pub fn into_text(self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self)
    }
}

/// The JSON Schema of the answer of a query whose payload is `T` (a tool's `outputSchema`).
pub fn output_schema<T: JsonSchema>() -> serde_json::Map<String, Value> {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Answer<T>>();
    match schema.to_value() {
        Value::Object(mut object) => {
            // The generic type's name means nothing to a client.
            object.remove("title");
            object
        }
        _ => serde_json::Map::new(),
    }
}
