//! A parameter's gradient collected beside candle's `GradStore` instead of inside it.
//!
//! candle's backprop sums every gradient of a tensor into a zero-filled buffer of the tensor's
//! size (`GradStore::or_insert`, then `add`): three extra passes over it. For the LM head of a
//! Qwen2.5 model (151,936 × 896, 545 MB in f32) that is about 2 GB of memory traffic per
//! backward (counted from the passes) on top of writing the gradient itself. An op given a
//! [`GradSink`] hands its gradient of that input to the sink and returns none to candle; the
//! caller takes it after the backward.

use std::sync::{Arc, Mutex};

use candle_core::Tensor;

/// Where an op's backward puts one input's gradient (see the module docs). Clones share the
/// same slot.
#[derive(Debug, Clone, Default)]
pub struct GradSink(Arc<Mutex<Option<Tensor>>>);

impl GradSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `grad` to the gradient held (keeps `grad` itself when the sink is empty).
    pub fn add(&self, grad: Tensor) -> candle_core::Result<()> {
        let mut held = self.0.lock().map_err(|_| candle_core::Error::Msg("gradient sink: lock poisoned".into()))?;
        *held = Some(match held.take() {
            Some(sum) => (sum + grad)?,
            None => grad,
        });
        Ok(())
    }

    /// The gradient collected so far, leaving the sink empty.
    pub fn take(&self) -> Option<Tensor> {
        self.0.lock().ok()?.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_sink_sums_what_it_is_given_and_empties_when_taken() -> candle_core::Result<()> {
        let sink = GradSink::new();
        assert!(sink.take().is_none());
        let shared = sink.clone();
        sink.add(Tensor::new(&[1f32, 2.0], &Device::Cpu)?)?;
        shared.add(Tensor::new(&[0.5f32, -4.0], &Device::Cpu)?)?;
        assert_eq!(sink.take().expect("a gradient").to_vec1::<f32>()?, [1.5, -2.0]);
        assert!(shared.take().is_none());
        Ok(())
    }
}
