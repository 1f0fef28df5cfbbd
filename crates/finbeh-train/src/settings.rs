//! `[model]` settings from finbeh-config mapped, once, onto the forest's parameters.

use finbeh_config::ModelSettings;

use crate::error::TrainError;
use crate::params::RandomForestParams;

impl TryFrom<&ModelSettings> for RandomForestParams {
    type Error = TrainError;

    /// The forest hyperparameters of `[model]` (`random_state` is the forest seed). Only
    /// `max_features` can fail, and only for settings that skipped finbeh-config's validation.
    fn try_from(model: &ModelSettings) -> Result<Self, TrainError> {
        let max_features =
            model
                .max_features_rule()
                .map_err(|reason| TrainError::InvalidSetting {
                    key: "model.max_features",
                    value: model.max_features.clone(),
                    reason,
                })?;
        Ok(RandomForestParams::new()
            .n_estimators(model.n_estimators)
            .max_depth(Some(model.max_depth))
            .min_samples_split(model.min_samples_split)
            .min_samples_leaf(model.min_samples_leaf)
            .min_impurity_decrease(model.min_impurity_decrease)
            .max_features(max_features)
            .criterion(model.criterion)
            .class_weight(model.class_weight)
            .bootstrap(model.bootstrap)
            .oob_score(model.oob_score)
            .max_bins(model.max_bins)
            .seed(model.random_state)
            .n_jobs(model.n_jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finbeh_config::{ClassWeight, Criterion, MaxFeatures};
    use linfa::ParamGuard;

    #[test]
    fn default_model_settings_are_the_default_forest() {
        let from_settings = RandomForestParams::try_from(&ModelSettings::default())
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(from_settings, RandomForestParams::new().check().unwrap());
    }

    #[test]
    fn every_setting_is_carried() {
        let settings = ModelSettings {
            n_estimators: 7,
            max_depth: 4,
            min_samples_split: 9,
            min_samples_leaf: 3,
            min_impurity_decrease: 0.01,
            max_features: "0.5".into(),
            criterion: finbeh_config::Criterion::Entropy,
            class_weight: finbeh_config::ClassWeight::BalancedSubsample,
            bootstrap: true,
            oob_score: true,
            max_bins: 64,
            random_state: 9,
            n_jobs: 2,
            threshold: finbeh_config::ThresholdRule::TargetRecall { value: 0.8 },
            ..ModelSettings::default()
        };
        let p = RandomForestParams::try_from(&settings)
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(p.n_estimators(), 7);
        assert_eq!(p.max_depth(), Some(4));
        assert_eq!(p.min_samples_split(), 9);
        assert_eq!(p.min_samples_leaf(), 3);
        assert_eq!(p.min_impurity_decrease(), 0.01);
        assert_eq!(p.max_features(), MaxFeatures::Fraction(0.5));
        assert_eq!(p.criterion(), Criterion::Entropy);
        assert_eq!(p.class_weight(), ClassWeight::BalancedSubsample);
        assert!(p.oob_score());
        assert_eq!(p.max_bins(), 64);
        assert_eq!(p.seed(), 9);
        assert_eq!(p.n_jobs(), 2);
    }

    #[test]
    fn an_unvalidated_max_features_is_named() {
        let settings = ModelSettings {
            max_features: "most".into(),
            ..ModelSettings::default()
        };
        let err = RandomForestParams::try_from(&settings)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.max_features") && err.contains("most"),
            "{err}"
        );
    }
}
