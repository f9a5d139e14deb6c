//! Which provider, endpoint, key and model answer a tool: `[llm]` and its per-tool
//! overrides, the keys in the environment, and whether the MCP client offers sampling.

use codesage_shared::config::{LlmConfig, LlmProvider, Secret, Secrets};

/// Where a prompt goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// An OpenAI-compatible chat completions endpoint (base URL ending before
    /// `/chat/completions`).
    OpenAi {
        /// Base URL, e.g. `https://api.groq.com/openai/v1`.
        base_url: String,
        /// Bearer key; local servers may need none.
        key: Option<Secret>,
    },
    /// Gemini's `generateContent` (base URL ending before `/models/…`).
    Gemini {
        /// Base URL, e.g. `https://generativelanguage.googleapis.com/v1beta`.
        base_url: String,
        /// `x-goog-api-key`.
        key: Option<Secret>,
    },
    /// The MCP client's own model.
    Sampling,
}

/// A resolved provider for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Where the prompt goes.
    pub endpoint: Endpoint,
    /// The provider's name in messages, statistics and cache keys (`groq`, `openai`,
    /// `gemini`, `sampling`, or the host of a self-hosted endpoint).
    pub label: String,
    /// Model name (for sampling: a hint to the client).
    pub model: String,
}

const OPENAI_URL: &str = "https://api.openai.com/v1";
const GROQ_URL: &str = "https://api.groq.com/openai/v1";
const OPENROUTER_URL: &str = "https://openrouter.ai/api/v1";
const GEMINI_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// The provider's name for a base URL: the well-known services by host, else `host:port`.
fn label_of(base_url: &str) -> String {
    let host = url::Url::parse(base_url)
        .ok()
        .and_then(|url| {
            url.host_str().map(|host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            })
        })
        .unwrap_or_else(|| "openai-compatible".to_string());
    for (needle, name) in [
        ("api.openai.com", "openai"),
        ("groq.com", "groq"),
        ("openrouter.ai", "openrouter"),
        ("together", "together"),
        ("generativelanguage.googleapis.com", "gemini"),
    ] {
        if host.contains(needle) {
            return name.to_string();
        }
    }
    host
}

fn default_model(label: &str) -> &'static str {
    match label {
        "groq" => "llama-3.1-8b-instant",
        "openrouter" => "openai/gpt-4o-mini",
        "gemini" => "gemini-2.0-flash",
        _ => "gpt-4o-mini",
    }
}

/// The OpenAI-family key for `base_url`: `CODESAGE_LLM_API_KEY`, else the service's own
/// variable by host, else `OPENAI_API_KEY`.
fn openai_key(secrets: &Secrets, base_url: &str) -> Option<Secret> {
    if let Some(key) = &secrets.codesage_llm_api_key {
        return Some(key.clone());
    }
    let label = label_of(base_url);
    let own = match label.as_str() {
        "groq" => &secrets.groq_api_key,
        "openrouter" => &secrets.openrouter_api_key,
        "gemini" => &secrets.google_api_key,
        _ => &secrets.openai_api_key,
    };
    own.clone().or_else(|| secrets.openai_api_key.clone())
}

/// The public endpoint for whichever OpenAI-family key is set (OpenAI, then Groq, then
/// OpenRouter, the original CodeSage's providers).
fn openai_default_url(secrets: &Secrets) -> Option<&'static str> {
    if secrets.openai_api_key.is_some() || secrets.codesage_llm_api_key.is_some() {
        Some(OPENAI_URL)
    } else if secrets.groq_api_key.is_some() {
        Some(GROQ_URL)
    } else if secrets.openrouter_api_key.is_some() {
        Some(OPENROUTER_URL)
    } else {
        None
    }
}

/// Resolves the route for `tool`; `Err` says why no model can answer (the tool then gives
/// its offline analysis and says so).
pub fn resolve(
    config: &LlmConfig,
    secrets: &Secrets,
    tool: &str,
    client_samples: bool,
) -> Result<Route, String> {
    let overrides = config.tools.get(tool);
    let provider = overrides
        .and_then(|tool| tool.provider)
        .unwrap_or(config.provider);
    let base_url = overrides
        .and_then(|tool| tool.base_url.clone())
        .unwrap_or_else(|| config.base_url.clone());
    let base_url = base_url.trim().trim_end_matches('/').to_string();
    let model = overrides
        .and_then(|tool| tool.model.clone())
        .unwrap_or_else(|| config.model.clone())
        .trim()
        .to_string();
    let provider = match provider {
        LlmProvider::Auto => {
            if !base_url.is_empty() || openai_default_url(secrets).is_some() {
                LlmProvider::Openai
            } else if secrets.google_api_key.is_some() {
                LlmProvider::Gemini
            } else if client_samples {
                LlmProvider::Sampling
            } else {
                return Err("no LLM is configured: set an API key (OPENAI_API_KEY, \
                     GROQ_API_KEY, OPENROUTER_API_KEY, GOOGLE_API_KEY or CODESAGE_LLM_API_KEY) \
                     in the daemon's environment or .env, or llm.base_url for a local server"
                    .to_string());
            }
        }
        other => other,
    };
    let with_model = |label: String| {
        let model = if model.is_empty() {
            default_model(&label).to_string()
        } else {
            model.clone()
        };
        (label, model)
    };
    match provider {
        LlmProvider::None => Err("llm.provider is none".to_string()),
        LlmProvider::Sampling if client_samples => Ok(Route {
            endpoint: Endpoint::Sampling,
            label: "sampling".into(),
            model,
        }),
        LlmProvider::Sampling => Err(
            "llm.provider is sampling, but this client does not offer sampling (only MCP \
             clients that declare the sampling capability can lend their model)"
                .to_string(),
        ),
        LlmProvider::Gemini => {
            let base_url = if base_url.is_empty() {
                GEMINI_URL.to_string()
            } else {
                base_url
            };
            let key = secrets
                .codesage_llm_api_key
                .clone()
                .or_else(|| secrets.google_api_key.clone());
            if key.is_none() && base_url == GEMINI_URL {
                return Err("llm.provider is gemini, but neither GOOGLE_API_KEY nor \
                     CODESAGE_LLM_API_KEY is set in the daemon's environment or .env"
                    .to_string());
            }
            let (label, model) = with_model("gemini".to_string());
            Ok(Route {
                endpoint: Endpoint::Gemini { base_url, key },
                label,
                model,
            })
        }
        LlmProvider::Openai | LlmProvider::Auto => {
            let base_url = if base_url.is_empty() {
                match openai_default_url(secrets) {
                    Some(url) => url.to_string(),
                    None => {
                        return Err(
                            "llm.provider is openai, but no key is set (OPENAI_API_KEY, \
                             GROQ_API_KEY, OPENROUTER_API_KEY or CODESAGE_LLM_API_KEY) and \
                             llm.base_url is empty"
                                .to_string(),
                        );
                    }
                }
            } else {
                base_url
            };
            let key = openai_key(secrets, &base_url);
            let (label, model) = with_model(label_of(&base_url));
            Ok(Route {
                endpoint: Endpoint::OpenAi { base_url, key },
                label,
                model,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codesage_shared::config::{Config, LlmToolOverride};

    fn secrets(groq: bool, google: bool) -> Secrets {
        Secrets {
            groq_api_key: groq.then(|| Secret::new("gsk_test_key_0123456789".into())),
            google_api_key: google.then(|| Secret::new("AIza_test_key_0123456789".into())),
            ..Secrets::default()
        }
    }

    #[test]
    fn auto_picks_keys_then_sampling_then_nothing() {
        let config = Config::default().llm;
        let route = resolve(&config, &secrets(true, true), "t", true).unwrap();
        assert_eq!(route.label, "groq");
        assert_eq!(route.model, "llama-3.1-8b-instant");
        assert!(
            matches!(route.endpoint, Endpoint::OpenAi { ref base_url, key: Some(_) } if base_url == GROQ_URL)
        );

        let route = resolve(&config, &secrets(false, true), "t", true).unwrap();
        assert_eq!(route.label, "gemini");

        let route = resolve(&config, &secrets(false, false), "t", true).unwrap();
        assert_eq!(route.endpoint, Endpoint::Sampling);

        let why = resolve(&config, &secrets(false, false), "t", false).unwrap_err();
        assert!(why.contains("no LLM is configured"), "{why}");
    }

    #[test]
    fn base_url_and_tool_overrides_apply() {
        let mut config = Config::default().llm;
        config.base_url = "http://127.0.0.1:8080/v1/".into();
        config.model = "llama3-8b-8192".into();
        config.tools.insert(
            "generate_unit_tests".into(),
            LlmToolOverride {
                model: Some("bigger".into()),
                ..LlmToolOverride::default()
            },
        );
        let route = resolve(
            &config,
            &Secrets::default(),
            "summarize_code_section",
            false,
        )
        .unwrap();
        assert_eq!(route.label, "127.0.0.1:8080");
        assert_eq!(route.model, "llama3-8b-8192");
        assert!(
            matches!(route.endpoint, Endpoint::OpenAi { ref base_url, key: None } if base_url == "http://127.0.0.1:8080/v1")
        );
        let route = resolve(&config, &Secrets::default(), "generate_unit_tests", false).unwrap();
        assert_eq!(route.model, "bigger");

        config.provider = LlmProvider::Sampling;
        assert!(resolve(&config, &Secrets::default(), "t", false).is_err());
        config.provider = LlmProvider::None;
        assert!(resolve(&config, &secrets(true, true), "t", true).is_err());
    }
}
