//! Pooling token vectors into one sentence vector, and the post-processing after it.

use std::str::FromStr;

use crate::error::{Error, Result};

/// How token vectors become one sentence vector (sentence-transformers' pooling modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of the vectors of the real (unmasked) tokens.
    Mean,
    /// The first token's vector (`[CLS]`).
    Cls,
    /// The last real token's vector, wherever padding put it (left or right).
    LastToken,
    /// Element-wise maximum over the real tokens.
    Max,
}

impl Pooling {
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::LastToken => "lasttoken",
            Pooling::Max => "max",
        }
    }
}

impl FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "mean" | "meantokens" => Ok(Pooling::Mean),
            "cls" | "clstoken" => Ok(Pooling::Cls),
            "lasttoken" | "last" => Ok(Pooling::LastToken),
            "max" | "maxtokens" => Ok(Pooling::Max),
            _ => Err(Error::invalid(format!(
                "unknown pooling '{s}': expected mean, cls, lasttoken or max"
            ))),
        }
    }
}

/// Pool one sequence: `hidden` is `seq_len * dim` row-major, `mask` has `seq_len` entries
/// (1 = real token). Writes `dim` values into `out`.
pub(crate) fn pool(pooling: Pooling, hidden: &[f32], mask: &[i64], dim: usize, out: &mut [f32]) {
    debug_assert_eq!(hidden.len(), mask.len() * dim);
    let rows = || {
        hidden
            .chunks_exact(dim)
            .zip(mask)
            .filter(|(_, &m)| m != 0)
            .map(|(row, _)| row)
    };
    match pooling {
        Pooling::Mean => {
            out.fill(0.0);
            let mut count = 0usize;
            for row in rows() {
                for (o, v) in out.iter_mut().zip(row) {
                    *o += v;
                }
                count += 1;
            }
            let scale = 1.0 / count.max(1) as f32;
            out.iter_mut().for_each(|o| *o *= scale);
        }
        Pooling::Max => {
            out.fill(f32::NEG_INFINITY);
            for row in rows() {
                for (o, v) in out.iter_mut().zip(row) {
                    *o = o.max(*v);
                }
            }
            if out.iter().all(|v| *v == f32::NEG_INFINITY) {
                out.fill(0.0);
            }
        }
        Pooling::Cls => {
            // The first real token: with left padding it is not at position 0.
            let first = mask.iter().position(|&m| m != 0).unwrap_or(0);
            out.copy_from_slice(&hidden[first * dim..(first + 1) * dim]);
        }
        Pooling::LastToken => {
            let last = mask.iter().rposition(|&m| m != 0).unwrap_or(0);
            out.copy_from_slice(&hidden[last * dim..(last + 1) * dim]);
        }
    }
}

/// Scale `v` to unit L2 norm (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// `torch.nn.functional.layer_norm(v, (len,))`: zero mean, unit variance (biased), eps 1e-5,
/// no scale or shift; what nomic-embed-text's Matryoshka procedure applies before truncating.
pub(crate) fn layer_norm(v: &mut [f32]) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let inv = 1.0 / (var + 1e-5).sqrt();
    v.iter_mut()
        .for_each(|x| *x = ((f64::from(*x) - mean) * inv) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIDDEN: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];

    #[test]
    fn mean_ignores_padding() {
        let mut out = [0.0; 2];
        pool(Pooling::Mean, &HIDDEN, &[1, 1, 0], 2, &mut out);
        assert_eq!(out, [2.0, 3.0]);
    }

    #[test]
    fn last_token_handles_left_and_right_padding() {
        let mut out = [0.0; 2];
        pool(Pooling::LastToken, &HIDDEN, &[1, 1, 0], 2, &mut out);
        assert_eq!(out, [3.0, 4.0]);
        pool(Pooling::LastToken, &HIDDEN, &[0, 1, 1], 2, &mut out);
        assert_eq!(out, [100.0, 100.0]);
    }

    #[test]
    fn cls_takes_first_real_token() {
        let mut out = [0.0; 2];
        pool(Pooling::Cls, &HIDDEN, &[0, 1, 1], 2, &mut out);
        assert_eq!(out, [3.0, 4.0]);
    }

    #[test]
    fn max_pooling() {
        let mut out = [0.0; 2];
        pool(Pooling::Max, &HIDDEN, &[1, 1, 0], 2, &mut out);
        assert_eq!(out, [3.0, 4.0]);
    }

    #[test]
    fn normalize_gives_unit_norm() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = [0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }

    #[test]
    fn layer_norm_is_torch_layer_norm() {
        // (v - mean) / sqrt(biased var + 1e-5), as torch.nn.functional.layer_norm(v, (4,))
        let mut v = [1.0, 2.0, 3.0, 6.0];
        layer_norm(&mut v);
        let want = [-1.0690434, -0.5345217, 0.0, 1.6035652];
        for (g, w) in v.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn parses_names() {
        assert_eq!("mean_tokens".parse::<Pooling>().unwrap(), Pooling::Mean);
        assert_eq!("LastToken".parse::<Pooling>().unwrap(), Pooling::LastToken);
        assert!("avg".parse::<Pooling>().is_err());
    }
}
