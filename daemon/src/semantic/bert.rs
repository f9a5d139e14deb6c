//! The BERT encoder (all-MiniLM-L6-v2 and its family) on candle tensors, laid out for
//! inference on a CPU.
//!
//! It computes what Hugging Face's `BertModel` computes (and candle-transformers' copy of it),
//! arranged so a short question costs little: every linear layer keeps its weight transposed
//! and contiguous (`[in, out]`, the layout the matrix kernel reads fastest), the query, key and
//! value projections are one product, rows stay two-dimensional (`[batch × tokens, hidden]`)
//! between layers, and softmax and layer norm are candle's fused kernels. A question is about
//! half the cost it was with candle-transformers' model (BENCHMARKS.md, "Semantic search").

use candle_core::{DType, Result, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};
use serde::Deserialize;

/// What the encoder needs from the model's `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Width of every hidden state (384 for MiniLM-L6).
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Positions the model was trained with.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// The feed-forward activation.
    #[serde(default = "default_activation")]
    pub hidden_act: String,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_positions() -> usize {
    512
}

fn default_activation() -> String {
    "gelu".into()
}

fn default_eps() -> f64 {
    1e-12
}

/// The feed-forward activations BERT checkpoints use.
#[derive(Debug, Clone, Copy)]
enum Activation {
    /// `gelu`: with erf, as Hugging Face computes it.
    GeluErf,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

impl Activation {
    fn named(name: &str) -> Option<Activation> {
        match name {
            "gelu" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::GeluErf if xs.dtype() == DType::F32 && xs.is_contiguous() => {
                xs.apply_op1_no_bwd(&FastGeluErf)
            }
            Activation::GeluErf => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
        }
    }
}

/// GELU with erf, `x/2 · (1 + erf(x/√2))`, with erf from a rational approximation (the one
/// XLA and Eigen use for f32: within a few units in the last place, no `exp`), written so the
/// compiler vectorises it. libm's scalar erf took a tenth of a forward pass.
struct FastGeluErf;

impl candle_core::CustomOp1 for FastGeluErf {
    fn name(&self) -> &'static str {
        "fast-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("fast-gelu-erf needs a contiguous tensor");
        };
        let input = &storage.as_slice::<f32>()?[start..end];
        let output: Vec<f32> = input.iter().map(|&x| gelu_erf(x)).collect();
        Ok((candle_core::CpuStorage::F32(output), layout.shape().clone()))
    }
}

/// `x/2 · (1 + erf(x/√2))`.
#[inline]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf for f32 as a ratio of polynomials in x² over [-4, 4] (erf is ±1 to f32 precision
/// beyond).
#[inline]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut numerator = -2.726_142_3e-10_f32;
    for alpha in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ] {
        numerator = numerator * x2 + alpha;
    }
    let mut denominator = -1.456_607_2e-5_f32;
    for beta in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        denominator = denominator * x2 + beta;
    }
    x * numerator / denominator
}

/// `x · Wᵀ + b` with `Wᵀ` stored contiguous.
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Linear> {
        let weight = vb.get((outputs, inputs), "weight")?;
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias: vb.get(outputs, "bias")?,
        })
    }

    /// Several projections of the same input as one (their outputs side by side).
    fn side_by_side(parts: &[Linear]) -> Result<Linear> {
        let weights: Vec<&Tensor> = parts.iter().map(|part| &part.weight_t).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|part| &part.bias).collect();
        Ok(Linear {
            weight_t: Tensor::cat(&weights, 1)?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    /// `xs`: `[rows, inputs]` → `[rows, outputs]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A loaded encoder.
pub struct Bert {
    word_embeddings: Tensor,
    /// Position embeddings plus the (only) token-type embedding, row per position.
    position_embeddings: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    hidden: usize,
    activation: Activation,
}

impl Bert {
    /// Loads the weights `vb` holds (with or without a `bert.` prefix) for `config`.
    pub fn load(vb: VarBuilder, config: &BertConfig) -> Result<Bert> {
        let activation = Activation::named(&config.hidden_act).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "unsupported activation {:?} (gelu, gelu_new or relu)",
                config.hidden_act
            ))
        })?;
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            candle_core::bail!("hidden_size {hidden} is not a multiple of {heads} heads");
        }
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let embeddings = vb.pp("embeddings");
        let word_embeddings = embeddings.pp("word_embeddings").get_unchecked("weight")?;
        let positions = embeddings
            .pp("position_embeddings")
            .get((config.max_position_embeddings, hidden), "weight")?;
        let token_type = embeddings
            .pp("token_type_embeddings")
            .get_unchecked("weight")?
            .get(0)?;
        let position_embeddings = positions.broadcast_add(&token_type)?;
        let embedding_norm =
            candle_nn::layer_norm(hidden, config.layer_norm_eps, embeddings.pp("LayerNorm"))?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let layer = vb.pp(format!("encoder.layer.{index}"));
            let attention = layer.pp("attention");
            let projection =
                |name: &str| Linear::load(attention.pp("self").pp(name), hidden, hidden);
            layers.push(Layer {
                qkv: Linear::side_by_side(&[
                    projection("query")?,
                    projection("key")?,
                    projection("value")?,
                ])?,
                attention_out: Linear::load(attention.pp("output").pp("dense"), hidden, hidden)?,
                attention_norm: candle_nn::layer_norm(
                    hidden,
                    config.layer_norm_eps,
                    attention.pp("output").pp("LayerNorm"),
                )?,
                intermediate: Linear::load(
                    layer.pp("intermediate").pp("dense"),
                    hidden,
                    config.intermediate_size,
                )?,
                output: Linear::load(
                    layer.pp("output").pp("dense"),
                    config.intermediate_size,
                    hidden,
                )?,
                output_norm: candle_nn::layer_norm(
                    hidden,
                    config.layer_norm_eps,
                    layer.pp("output").pp("LayerNorm"),
                )?,
            });
        }
        Ok(Bert {
            word_embeddings,
            position_embeddings,
            embedding_norm,
            layers,
            heads,
            head_size: hidden / heads,
            hidden,
            activation,
        })
    }

    /// Positions the model has embeddings for.
    pub fn max_positions(&self) -> usize {
        self.position_embeddings.dims()[0]
    }

    /// Last hidden states, `[batch, tokens, hidden]`, of `ids` (`[batch, tokens]`, padded
    /// with anything where `mask` is 0; `mask` may be omitted when nothing is padded).
    pub fn forward(&self, ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        if tokens > self.max_positions() {
            candle_core::bail!(
                "{tokens} tokens is more than the model's {} positions",
                self.max_positions()
            );
        }
        let words = self.word_embeddings.index_select(&ids.flatten_all()?, 0)?;
        let positions = self
            .position_embeddings
            .narrow(0, 0, tokens)?
            .repeat((batch, 1))?;
        let mut xs = self.embedding_norm.forward(&(words + positions)?)?;
        // Padding gets the most negative score before softmax, as in Hugging Face.
        let mask_bias = match mask {
            Some(mask) => Some(
                ((mask.to_dtype(DType::F32)? - 1.0)? * f64::from(f32::MAX))?
                    .reshape((batch, 1, 1, tokens))?,
            ),
            None => None,
        };
        let scale = 1.0 / (self.head_size as f64).sqrt();
        for layer in &self.layers {
            // [rows, 3 × hidden] → [3, batch, heads, tokens, head]
            let qkv = layer
                .qkv
                .forward(&xs)?
                .reshape((batch, tokens, 3, self.heads, self.head_size))?
                .permute((2, 0, 3, 1, 4))?;
            let query = (qkv.get(0)?.contiguous()? * scale)?;
            let key_t = qkv.get(1)?.transpose(2, 3)?.contiguous()?;
            let value = qkv.get(2)?.contiguous()?;
            let mut scores = query.matmul(&key_t)?;
            if let Some(bias) = &mask_bias {
                scores = scores.broadcast_add(bias)?;
            }
            let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probabilities
                .matmul(&value)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch * tokens, self.hidden))?;
            let attended = layer.attention_out.forward(&context)?;
            xs = layer.attention_norm.forward(&(attended + xs)?)?;
            let intermediate = self.activation.apply(&layer.intermediate.forward(&xs)?)?;
            let output = layer.output.forward(&intermediate)?;
            xs = layer.output_norm.forward(&(output + xs)?)?;
        }
        xs.reshape((batch, tokens, self.hidden))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (exact to ~1e-12 for |x| ≤ 3 with 60 terms), and
    /// by its asymptotic bound beyond.
    fn reference_erf(x: f64) -> f64 {
        if x.abs() > 3.0 {
            return x.signum() * (1.0 - (-x * x).exp() / (x.abs() * std::f64::consts::PI.sqrt()));
        }
        let mut sum = 0.0;
        let mut term = x;
        for n in 0..60 {
            sum += term / (2 * n + 1) as f64;
            term *= -x * x / (n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn the_rational_erf_matches_the_series() {
        let mut worst: f64 = 0.0;
        for step in -6000..=6000 {
            let x = step as f64 / 1000.0;
            let error = (f64::from(erf(x as f32)) - reference_erf(x)).abs();
            worst = worst.max(error);
        }
        assert!(worst < 2e-6, "worst |erf error| {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!(gelu_erf(-10.0).abs() < 1e-6);
    }
}
