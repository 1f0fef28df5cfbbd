//! The artifact's wire form of a [`ThresholdRule`] (format 1.x): `{"fixed":0.5}`, `"best_f1"`,
//! `{"target_recall":0.9}`. The settings file writes the same rule as `rule = "fixed"`,
//! `value = 0.5`; this keeps committed artifacts readable. Used with `#[serde(with)]`.

use std::fmt;

use finbeh_config::ThresholdRule;
use serde::de::{EnumAccess, Error as _, VariantAccess, Visitor};
use serde::{Deserializer, Serializer};

const NAME: &str = "ThresholdRule";
const VARIANTS: [&str; 3] = ["fixed", "best_f1", "target_recall"];

pub(crate) fn serialize<S: Serializer>(
    rule: &ThresholdRule,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match *rule {
        ThresholdRule::Fixed { value } => {
            serializer.serialize_newtype_variant(NAME, 0, VARIANTS[0], &value)
        }
        ThresholdRule::BestF1 => serializer.serialize_unit_variant(NAME, 1, VARIANTS[1]),
        ThresholdRule::TargetRecall { value } => {
            serializer.serialize_newtype_variant(NAME, 2, VARIANTS[2], &value)
        }
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<ThresholdRule, D::Error> {
    deserializer.deserialize_enum(NAME, &VARIANTS, RuleVisitor)
}

struct RuleVisitor;

impl<'de> Visitor<'de> for RuleVisitor {
    type Value = ThresholdRule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a threshold rule: {"fixed": t}, "best_f1" or {"target_recall": r}"#)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<ThresholdRule, A::Error> {
        let (name, variant): (String, _) = data.variant()?;
        match name.as_str() {
            "fixed" => Ok(ThresholdRule::Fixed {
                value: variant.newtype_variant()?,
            }),
            "best_f1" => variant.unit_variant().map(|()| ThresholdRule::BestF1),
            "target_recall" => Ok(ThresholdRule::TargetRecall {
                value: variant.newtype_variant()?,
            }),
            other => Err(A::Error::unknown_variant(other, &VARIANTS)),
        }
    }
}

#[cfg(test)]
mod tests {
    use finbeh_config::{ClassWeight, Criterion, MaxFeatures};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder(#[serde(with = "super")] ThresholdRule);

    /// The forms written by artifact format 1.0 and 1.1, before the enums had one definition.
    #[test]
    fn wire_forms_are_those_of_format_1() {
        for (rule, json) in [
            (ThresholdRule::Fixed { value: 0.5 }, r#"{"fixed":0.5}"#),
            (ThresholdRule::BestF1, r#""best_f1""#),
            (
                ThresholdRule::TargetRecall { value: 0.8 },
                r#"{"target_recall":0.8}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&Holder(rule)).unwrap(), json);
            assert_eq!(serde_json::from_str::<Holder>(json).unwrap(), Holder(rule));
        }
        assert!(serde_json::from_str::<Holder>(r#""best""#).is_err());
        for (features, json) in [
            (MaxFeatures::Sqrt, r#""sqrt""#),
            (MaxFeatures::Log2, r#""log2""#),
            (MaxFeatures::All, r#""all""#),
            (MaxFeatures::Fraction(0.5), r#"{"fraction":0.5}"#),
        ] {
            assert_eq!(serde_json::to_string(&features).unwrap(), json);
            assert_eq!(serde_json::from_str::<MaxFeatures>(json).unwrap(), features);
        }
        for (weight, json) in [
            (ClassWeight::None, r#""none""#),
            (ClassWeight::Balanced, r#""balanced""#),
            (ClassWeight::BalancedSubsample, r#""balanced_subsample""#),
        ] {
            assert_eq!(serde_json::to_string(&weight).unwrap(), json);
            assert_eq!(serde_json::from_str::<ClassWeight>(json).unwrap(), weight);
        }
        for (criterion, json) in [
            (Criterion::Gini, r#""gini""#),
            (Criterion::Entropy, r#""entropy""#),
        ] {
            assert_eq!(serde_json::to_string(&criterion).unwrap(), json);
            assert_eq!(serde_json::from_str::<Criterion>(json).unwrap(), criterion);
        }
    }
}
