//! Exact path-dependent TreeSHAP explanations of the forest's probabilities, per engineered
//! feature ([`TreeShap`]) and per raw input column ([`ModelExplainer`]).

mod columns;
mod forest_shap;
mod quadrature;
mod shap_tree;

#[cfg(test)]
mod tests;

pub use columns::{
    ColumnContribution, Explanation, GlobalImportance, ModelExplainer, mean_abs_contributions,
};
pub use forest_shap::{MAX_EXPLAINED_DEPTH, TreeShap};
