//! Objectives by name: one constructor signature, unknown names list the valid ones.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::config::ObjectiveConfig;
use super::gspo::Gspo;
use super::likelihood_gate::LikelihoodGate;
use super::ratio_clip::{PolicyGradient, RatioObjective};
use super::{Objective, PolicyObjective};
use crate::{bail_input, Result};

/// Builds an objective from its config (validating the sections it uses).
pub type Constructor = fn(&ObjectiveConfig) -> Result<Box<dyn PolicyObjective>>;

/// A set of objectives by name.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<&'static str, Constructor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in objectives.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut r = Registry::new();
            let builtins: [(&'static str, Constructor); 10] = [
                ("lgpo", LikelihoodGate::lgpo),
                ("lgpo_random_gate", LikelihoodGate::random),
                ("lgpo_positive_only", LikelihoodGate::positive_only),
                ("lgpo_stochastic", LikelihoodGate::stochastic),
                ("grpo", RatioObjective::grpo),
                ("grpo_no_correction", RatioObjective::grpo_no_correction),
                ("grpo_no_clip", RatioObjective::grpo_no_clip),
                ("pg", PolicyGradient::build),
                ("gspo", Gspo::build),
                ("dapo", RatioObjective::dapo),
            ];
            for (name, ctor) in builtins {
                r.register(name, ctor).expect("built-in names are distinct");
            }
            r
        })
    }

    /// Adds `name`; fails if it is already registered.
    pub fn register(&mut self, name: &'static str, constructor: Constructor) -> Result<()> {
        if self.entries.contains_key(name) {
            bail_input!("objective `{name}` is already registered");
        }
        self.entries.insert(name, constructor);
        Ok(())
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.keys().copied().collect()
    }

    /// The objective `config.name`, configured.
    pub fn build(&self, config: &ObjectiveConfig) -> Result<Objective> {
        let Some(constructor) = self.entries.get(config.name.as_str()) else {
            bail_input!("unknown objective `{}`; valid names: {}", config.name, self.names().join(", "));
        };
        Ok(Objective::new(constructor(config)?, config))
    }
}
