//! Padded batches of prompt + response sequences for the training forward.

use candle_core::{DType, Device, Tensor};

use crate::{bail_input, Result};

/// One sequence to score: prompt tokens followed by response tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub prompt: Vec<u32>,
    pub response: Vec<u32>,
}

/// A padded batch in the layout of verl and TRL: prompts left-padded to width P, responses
/// right-padded to width R, so response token j of every row sits at column P + j and is
/// predicted from the hidden state at column P + j − 1.
#[derive(Debug, Clone)]
pub struct SequenceBatch {
    /// Token ids (B, P + R) u32; padding holds id 0 and is masked.
    pub input_ids: Tensor,
    /// 1 for tokens, 0 for padding (B, P + R) u32.
    pub attention_mask: Tensor,
    /// Position of each token within its own sequence (B, P + R) u32.
    pub position_ids: Tensor,
    /// 1 for response tokens, 0 for response padding (B, R) f32.
    pub response_mask: Tensor,
    /// Width P of the prompt block.
    pub prompt_width: usize,
    /// Width R of the response block.
    pub response_width: usize,
    /// Response length of each row.
    pub response_lengths: Vec<usize>,
    /// Softmax temperature of the scored distribution: the log-probs are those of
    /// softmax(logits / temperature), the distribution the responses were sampled from (verl and
    /// TRL divide the logits by the rollout temperature too). 1 by default.
    pub temperature: f64,
}

impl SequenceBatch {
    /// Pads `sequences` into one batch. Every prompt needs at least one token (the first response
    /// token is predicted from it) and every id must be below `vocab_size`.
    pub fn new(sequences: &[Sequence], vocab_size: usize, device: &Device) -> Result<Self> {
        if sequences.is_empty() {
            bail_input!("sequences: the batch is empty");
        }
        for (i, s) in sequences.iter().enumerate() {
            if s.prompt.is_empty() {
                bail_input!("sequences[{i}].prompt is empty; a response is scored given at least one prompt token");
            }
            for (part, ids) in [("prompt", &s.prompt), ("response", &s.response)] {
                if let Some((j, id)) = ids.iter().enumerate().find(|(_, &id)| id as usize >= vocab_size) {
                    bail_input!("sequences[{i}].{part}[{j}] = {id} is not below the vocabulary size {vocab_size}");
                }
            }
        }
        let p = sequences.iter().map(|s| s.prompt.len()).max().unwrap_or(0);
        let r = sequences.iter().map(|s| s.response.len()).max().unwrap_or(0);
        if r == 0 {
            bail_input!("sequences: no row has response tokens");
        }
        let (b, width) = (sequences.len(), p + r);
        let mut ids = vec![0u32; b * width];
        let mut mask = vec![0u32; b * width];
        let mut positions = vec![0u32; b * width];
        let mut response_mask = vec![0f32; b * r];
        for (row, s) in sequences.iter().enumerate() {
            let start = row * width + p - s.prompt.len();
            let tokens = s.prompt.iter().chain(&s.response);
            for (k, &id) in tokens.enumerate() {
                ids[start + k] = id;
                mask[start + k] = 1;
                positions[start + k] = k as u32;
            }
            response_mask[row * r..row * r + s.response.len()].fill(1.0);
        }
        Ok(SequenceBatch {
            input_ids: Tensor::from_vec(ids, (b, width), device)?,
            attention_mask: Tensor::from_vec(mask, (b, width), device)?,
            position_ids: Tensor::from_vec(positions, (b, width), device)?,
            response_mask: Tensor::from_vec(response_mask, (b, r), device)?.to_dtype(DType::F32)?,
            prompt_width: p,
            response_width: r,
            response_lengths: sequences.iter().map(|s| s.response.len()).collect(),
            temperature: 1.0,
        })
    }

    /// The batch scored at softmax temperature `temperature` (positive and finite).
    pub fn with_temperature(mut self, temperature: f64) -> Result<Self> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            bail_input!("temperature must be positive and finite, got {temperature}");
        }
        self.temperature = temperature;
        Ok(self)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.response_lengths.len()
    }

    /// Whether the batch has no rows (never true for a constructed batch).
    pub fn is_empty(&self) -> bool {
        self.response_lengths.is_empty()
    }

    /// The response tokens (B, R) u32, i.e. the targets of the response log-probs.
    pub fn response_ids(&self) -> Result<Tensor> {
        Ok(self.input_ids.narrow(1, self.prompt_width, self.response_width)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_prompts_left_and_responses_right() -> Result<()> {
        let seqs = vec![
            Sequence { prompt: vec![5, 6], response: vec![7] },
            Sequence { prompt: vec![8], response: vec![9, 10, 11] },
        ];
        let batch = SequenceBatch::new(&seqs, 100, &Device::Cpu)?;
        assert_eq!((batch.prompt_width, batch.response_width), (2, 3));
        assert_eq!(batch.input_ids.to_vec2::<u32>()?, vec![vec![5, 6, 7, 0, 0], vec![0, 8, 9, 10, 11]]);
        assert_eq!(batch.attention_mask.to_vec2::<u32>()?, vec![vec![1, 1, 1, 0, 0], vec![0, 1, 1, 1, 1]]);
        assert_eq!(batch.position_ids.to_vec2::<u32>()?, vec![vec![0, 1, 2, 0, 0], vec![0, 0, 1, 2, 3]]);
        assert_eq!(batch.response_mask.to_vec2::<f32>()?, vec![vec![1., 0., 0.], vec![1., 1., 1.]]);
        assert_eq!(batch.response_ids()?.to_vec2::<u32>()?, vec![vec![7, 0, 0], vec![9, 10, 11]]);
        Ok(())
    }

    #[test]
    fn rejects_bad_rows_naming_them() {
        let err = |seqs: Vec<Sequence>| SequenceBatch::new(&seqs, 10, &Device::Cpu).unwrap_err().to_string();
        assert!(err(vec![]).contains("empty"));
        assert!(err(vec![Sequence { prompt: vec![], response: vec![1] }]).contains("sequences[0].prompt"));
        let e = err(vec![Sequence { prompt: vec![1], response: vec![2, 10] }]);
        assert!(e.contains("sequences[0].response[1] = 10"), "{e}");
        assert!(err(vec![Sequence { prompt: vec![1], response: vec![] }]).contains("no row has response"));
    }
}
