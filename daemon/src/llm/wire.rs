//! The two HTTP wire formats, written with serde: OpenAI-compatible chat completions and
//! Gemini's `generateContent`. One function sends one attempt and classifies what went
//! wrong; retries, limits and the breaker are the caller's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::resilience::{Failure, parse_retry_after};
use super::route::Endpoint;
use super::{Prompt, Reply};

/// Replies larger than this are refused as malformed (no chat answer is this large).
const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;
/// Characters of a provider's error message kept in a failure.
const MAX_DETAIL_CHARS: usize = 200;

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    max_tokens: u32,
    temperature: f32,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct ChatChoice {
    #[serde(default)]
    message: Option<ChatReplyMessage>,
}

#[derive(Deserialize)]
struct ChatReplyMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GeminiRequest<'a> {
    system_instruction: GeminiContent<'a>,
    contents: [GeminiContent<'a>; 1],
    generation_config: GeminiConfig,
}

#[derive(Serialize)]
struct GeminiContent<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: [GeminiPart<'a>; 1],
}

#[derive(Serialize)]
struct GeminiPart<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GeminiConfig {
    max_output_tokens: u32,
    temperature: f32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiResponse {
    #[serde(default)]
    candidates: Vec<GeminiCandidate>,
    #[serde(default)]
    usage_metadata: Option<GeminiUsage>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
struct GeminiCandidate {
    #[serde(default)]
    content: Option<GeminiReplyContent>,
}

#[derive(Deserialize)]
struct GeminiReplyContent {
    #[serde(default)]
    parts: Vec<GeminiReplyPart>,
}

#[derive(Deserialize)]
struct GeminiReplyPart {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
}

/// Sends one attempt to `endpoint` and reads the whole reply within `timeout`. `scrub`
/// removes secrets from any text a provider sent back (an error message quoting the key).
pub async fn send(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    model: &str,
    prompt: &Prompt,
    temperature: f32,
    timeout: Duration,
    scrub: &(dyn Fn(&str) -> String + Sync),
) -> Result<Reply, Failure> {
    let request = match endpoint {
        Endpoint::OpenAi { base_url, key } => {
            let body = ChatRequest {
                model,
                messages: [
                    ChatMessage {
                        role: "system",
                        content: &prompt.system,
                    },
                    ChatMessage {
                        role: "user",
                        content: &prompt.user,
                    },
                ],
                max_tokens: prompt.max_tokens,
                temperature,
            };
            let mut request = http
                .post(format!("{base_url}/chat/completions"))
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&body).map_err(|err| Failure::Malformed(err.to_string()))?,
                );
            if let Some(key) = key {
                request = request.bearer_auth(key.expose());
            }
            request
        }
        Endpoint::Gemini { base_url, key } => {
            let body = GeminiRequest {
                system_instruction: GeminiContent {
                    role: None,
                    parts: [GeminiPart {
                        text: &prompt.system,
                    }],
                },
                contents: [GeminiContent {
                    role: Some("user"),
                    parts: [GeminiPart { text: &prompt.user }],
                }],
                generation_config: GeminiConfig {
                    max_output_tokens: prompt.max_tokens,
                    temperature,
                },
            };
            // The key goes in a header, never in the URL, so no error or log can show it.
            let mut request = http
                .post(gemini_url(base_url, model)?)
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&body).map_err(|err| Failure::Malformed(err.to_string()))?,
                );
            if let Some(key) = key {
                request = request.header("x-goog-api-key", key.expose());
            }
            request
        }
        Endpoint::Sampling => {
            return Err(Failure::Declined("sampling does not go over HTTP".into()));
        }
    };
    let exchange = async {
        let mut response = request
            .send()
            .await
            .map_err(|err| classify(&err, timeout))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = parse_retry_after(
            header("retry-after").as_deref(),
            header("retry-after-ms").as_deref(),
        );
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| classify(&err, timeout))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_REPLY_BYTES {
                return Err(Failure::Malformed(format!(
                    "the reply is over {} MiB",
                    MAX_REPLY_BYTES >> 20
                )));
            }
        }
        Ok((status, retry_after, body))
    };
    let (status, retry_after, body) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Failure::Timeout(timeout))??;
    if !status.is_success() {
        return Err(Failure::Status {
            code: status.as_u16(),
            retry_after,
            detail: scrub(&error_detail(&body)),
        });
    }
    match endpoint {
        Endpoint::Gemini { .. } => {
            let parsed: GeminiResponse = serde_json::from_slice(&body)
                .map_err(|err| Failure::Malformed(scrub(&err.to_string())))?;
            let text: String = parsed
                .candidates
                .into_iter()
                .next()
                .and_then(|candidate| candidate.content)
                .map(|content| {
                    content
                        .parts
                        .into_iter()
                        .filter_map(|part| part.text)
                        .collect()
                })
                .unwrap_or_default();
            if text.trim().is_empty() {
                return Err(Failure::Empty);
            }
            let usage = parsed.usage_metadata;
            Ok(Reply {
                text,
                model: parsed.model_version.unwrap_or_else(|| model.to_string()),
                tokens_in: usage.as_ref().map_or(0, |usage| usage.prompt_token_count),
                tokens_out: usage
                    .as_ref()
                    .map_or(0, |usage| usage.candidates_token_count),
            })
        }
        _ => {
            let parsed: ChatResponse = serde_json::from_slice(&body)
                .map_err(|err| Failure::Malformed(scrub(&err.to_string())))?;
            let text = parsed
                .choices
                .into_iter()
                .next()
                .and_then(|choice| choice.message)
                .and_then(|message| message.content)
                .unwrap_or_default();
            if text.trim().is_empty() {
                return Err(Failure::Empty);
            }
            let usage = parsed.usage;
            Ok(Reply {
                text,
                model: parsed.model.unwrap_or_else(|| model.to_string()),
                tokens_in: usage.as_ref().map_or(0, |usage| usage.prompt_tokens),
                tokens_out: usage.as_ref().map_or(0, |usage| usage.completion_tokens),
            })
        }
    }
}

/// `{base_url}/models/{model}:generateContent`, the model name escaped as one path segment
/// (a name with `/`, `?` or `#` cannot reach another endpoint).
fn gemini_url(base_url: &str, model: &str) -> Result<url::Url, Failure> {
    let mut url = url::Url::parse(base_url)
        .map_err(|err| Failure::Connection(format!("llm.base_url is not a URL: {err}")))?;
    url.path_segments_mut()
        .map_err(|()| Failure::Connection("llm.base_url cannot take a path".into()))?
        .pop_if_empty()
        .push("models")
        .push(&format!("{model}:generateContent"));
    Ok(url)
}

/// A transport error as a failure, without its URL.
fn classify(err: &reqwest::Error, timeout: Duration) -> Failure {
    if err.is_timeout() {
        return Failure::Timeout(timeout);
    }
    let mut why = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    // The innermost cause names the problem (refused, reset, DNS); reqwest's own text adds
    // the URL, which is left out.
    while let Some(cause) = source {
        why = cause.to_string();
        source = cause.source();
    }
    if why.is_empty() {
        why = if err.is_connect() {
            "cannot connect".into()
        } else if err.is_body() || err.is_decode() {
            "the reply broke off".into()
        } else {
            "request failed".into()
        };
    }
    Failure::Connection(why)
}

/// The provider's error message (`{"error": {"message": …}}` in both formats), shortened.
fn error_detail(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            let error = value.get("error")?;
            error
                .get("message")
                .and_then(|message| message.as_str())
                .or_else(|| error.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if message.chars().count() > MAX_DETAIL_CHARS {
        let cut: String = message.chars().take(MAX_DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_model_names_stay_in_their_path_segment() {
        let url = gemini_url("http://127.0.0.1:9/v1beta", "gemini-2.0-flash").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:generateContent"
        );
        let url = gemini_url("http://127.0.0.1:9/v1beta/", "../x?key=1#y").unwrap();
        assert_eq!(
            url.path(),
            "/v1beta/models/..%2Fx%3Fkey=1%23y:generateContent"
        );
        assert_eq!(url.query(), None);
    }

    #[test]
    fn provider_messages_are_read_and_shortened() {
        let body = serde_json::json!({"error": {"message": "Invalid   key\n given"}}).to_string();
        assert_eq!(error_detail(body.as_bytes()), "Invalid key given");
        let long = serde_json::json!({"error": {"message": "x".repeat(500)}}).to_string();
        assert_eq!(
            error_detail(long.as_bytes()).chars().count(),
            MAX_DETAIL_CHARS + 1
        );
        assert_eq!(error_detail(b"<html>bad gateway</html>"), "");
    }
}
