//! The random forest: training, prediction, out-of-bag score, importances and serde form.

use std::borrow::Cow;
use std::io::IsTerminal;

use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::binning::BinnedMatrix;
use crate::codec;
use crate::engine::FlatForest;
use crate::error::{Result, TrainError};
use crate::forest_view::ForestView;
use crate::metrics;
use crate::params::{ClassWeight, RandomForestValidParams};
use crate::tree::{self, LEAF, TreeConfig};
use finbeh_data::Rng;

/// Rows per parallel prediction task.
const PREDICT_CHUNK: usize = 1024;

/// Out-of-bag estimate of generalisation, on rows left out of at least one tree's bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OobScore {
    /// Accuracy of the argmax class.
    pub accuracy: f64,
    /// ROC AUC of P(class 1) (binary problems with both classes among scored rows only).
    pub roc_auc: Option<f64>,
    /// Rows that were out of bag at least once (the others are not scored).
    pub n_scored: usize,
}

/// A fitted random forest classifier.
///
/// Features are `f32` (rows × features, finite), labels are class indices `0..n_classes`
/// (binary: class 1 is the positive class).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForest {
    params: RandomForestValidParams,
    n_features: usize,
    n_classes: usize,
    engine: FlatForest,
    impurity_importances: Vec<f64>,
    oob: Option<OobScore>,
    /// Training cover of every node, trees in order, each tree's nodes in preorder; `None` for
    /// a forest decoded from an artifact older than format 1.3.0.
    cover: Option<Vec<f64>>,
}

/// Checks every value is finite; the error names the first offending row and column.
pub(crate) fn check_finite(x: ArrayView2<'_, f32>) -> Result<()> {
    for (row, values) in x.outer_iter().enumerate() {
        if let Some((column, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(TrainError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// Checks one feature row: `n_features` long and finite (the error names the column).
pub(crate) fn check_row(row: &[f32], n_features: usize) -> Result<()> {
    if row.len() != n_features {
        return Err(TrainError::ModelShape {
            what: "features",
            expected: n_features,
            got: row.len(),
        });
    }
    if let Some((column, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TrainError::NonFinite {
            row: 0,
            column,
            value,
        });
    }
    Ok(())
}

/// Number of classes (max label + 1); at least two distinct labels are required.
fn class_count(y: &[usize]) -> Result<usize> {
    let mut max = 0;
    for (row, &label) in y.iter().enumerate() {
        if label >= usize::from(u16::MAX) {
            return Err(TrainError::InvalidLabel {
                row,
                label,
                reason: "class indices must be below 65535",
            });
        }
        max = max.max(label);
    }
    let first = y.first().copied().unwrap_or(0);
    if y.iter().all(|&l| l == first) {
        return Err(TrainError::SingleClass {
            what: "training labels",
            class: first,
        });
    }
    Ok(max + 1)
}

/// `n / (n_present_classes * count_c)` per class (0 for absent classes).
fn balanced_weights(counts: &[f64]) -> Vec<f64> {
    let n: f64 = counts.iter().sum();
    let present = counts.iter().filter(|&&c| c > 0.0).count() as f64;
    counts
        .iter()
        .map(|&c| if c > 0.0 { n / (present * c) } else { 0.0 })
        .collect()
}

struct FittedTree {
    grown: tree::GrownTree,
    in_bag: Option<Vec<u64>>,
}

impl RandomForest {
    /// Trains a forest on `x` (rows × features, finite) and labels `y` (class indices).
    ///
    /// Trees are grown in parallel on a local pool of `params.n_jobs()` threads; tree `i` draws
    /// its randomness from `(seed, i)` only, so the result does not depend on the thread count.
    pub fn fit(
        params: &RandomForestValidParams,
        x: ArrayView2<'_, f32>,
        y: &[usize],
    ) -> Result<Self> {
        params.validate()?;
        let (n_rows, n_features) = x.dim();
        if n_rows == 0 {
            return Err(TrainError::EmptyInput {
                what: "feature matrix has no rows",
            });
        }
        if n_features == 0 {
            return Err(TrainError::EmptyInput {
                what: "feature matrix has no columns",
            });
        }
        if n_features >= usize::from(LEAF) {
            return Err(TrainError::ModelShape {
                what: "features at most (65534 supported)",
                expected: usize::from(LEAF) - 1,
                got: n_features,
            });
        }
        if y.len() != n_rows {
            return Err(TrainError::LengthMismatch {
                what: "labels vs feature rows",
                expected: n_rows,
                got: y.len(),
            });
        }
        if n_rows > u32::MAX as usize {
            return Err(TrainError::ModelShape {
                what: "rows at most",
                expected: u32::MAX as usize,
                got: n_rows,
            });
        }
        check_finite(x)?;
        let n_classes = class_count(y)?;
        let threads = match params.n_jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        pool.install(|| Self::fit_in_pool(params, x, y, n_classes))
    }

    fn fit_in_pool(
        params: &RandomForestValidParams,
        x: ArrayView2<'_, f32>,
        y: &[usize],
        n_classes: usize,
    ) -> Result<Self> {
        let (n_rows, n_features) = x.dim();
        let binned = BinnedMatrix::build(x, params.max_bins, params.seed);
        let labels: Vec<u16> = y.iter().map(|&l| l as u16).collect();
        let mut class_counts = vec![0.0; n_classes];
        for &l in y {
            class_counts[l] += 1.0;
        }
        let base_weights = match params.class_weight {
            ClassWeight::None => vec![1.0; n_classes],
            ClassWeight::Balanced | ClassWeight::BalancedSubsample => {
                balanced_weights(&class_counts)
            }
        };
        let cfg = TreeConfig {
            max_depth: params.max_depth.unwrap_or(usize::MAX),
            min_samples_split: params.min_samples_split,
            min_samples_leaf: params.min_samples_leaf,
            min_impurity_decrease: params.min_impurity_decrease,
            max_features: params.max_features.resolve(n_features),
            criterion: params.criterion,
            n_classes,
        };
        let bar = (params.progress && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(params.n_estimators as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "training {bar:40} {pos}/{len} trees [{elapsed_precise}<{eta_precise}]",
            ) {
                bar.set_style(style);
            }
            bar
        });

        let fitted: Vec<FittedTree> = (0..params.n_estimators)
            .into_par_iter()
            .map(|t| {
                let mut rng = Rng::for_stream(params.seed, t as u64);
                let mut weights = vec![0.0f64; n_rows];
                let (rows, in_bag) = if params.bootstrap {
                    let mut counts = vec![0u32; n_rows];
                    for _ in 0..n_rows {
                        counts[rng.below(n_rows)] += 1;
                    }
                    let class_w = if params.class_weight == ClassWeight::BalancedSubsample {
                        let mut sub = vec![0.0; n_classes];
                        for (&c, &l) in counts.iter().zip(&labels) {
                            sub[usize::from(l)] += f64::from(c);
                        }
                        balanced_weights(&sub)
                    } else {
                        base_weights.clone()
                    };
                    let mut rows = Vec::with_capacity(n_rows * 2 / 3);
                    for (r, &c) in counts.iter().enumerate() {
                        if c > 0 {
                            rows.push(r as u32);
                            weights[r] = f64::from(c) * class_w[usize::from(labels[r])];
                        }
                    }
                    let in_bag = params.oob_score.then(|| {
                        let mut bits = vec![0u64; n_rows.div_ceil(64)];
                        for &r in &rows {
                            bits[r as usize >> 6] |= 1 << (r & 63);
                        }
                        bits
                    });
                    (rows, in_bag)
                } else {
                    for (w, &l) in weights.iter_mut().zip(&labels) {
                        *w = base_weights[usize::from(l)];
                    }
                    ((0..n_rows as u32).collect(), None)
                };
                let grown = tree::grow_tree(&binned, &labels, &weights, rows, &cfg, &mut rng);
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                FittedTree { grown, in_bag }
            })
            .collect();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }

        let impurity_importances = normalise_importances(&fitted, n_features);
        let n_outputs = if n_classes == 2 { 1 } else { n_classes };
        let trees: Vec<_> = fitted.iter().map(|f| f.grown.tree.clone()).collect();
        let engine = FlatForest::from_trees(&trees, n_outputs, n_features)?;
        let cover = fitted.iter().flat_map(|f| f.grown.cover.iter().copied());
        let mut forest = Self {
            params: params.clone(),
            n_features,
            n_classes,
            engine,
            impurity_importances,
            oob: None,
            cover: Some(cover.collect()),
        };
        if params.oob_score {
            let in_bag: Vec<&[u64]> = fitted.iter().filter_map(|f| f.in_bag.as_deref()).collect();
            forest.oob = Some(forest.oob_score_from(x, y, &in_bag)?);
        }
        Ok(forest)
    }

    fn oob_score_from(
        &self,
        x: ArrayView2<'_, f32>,
        y: &[usize],
        in_bag: &[&[u64]],
    ) -> Result<OobScore> {
        let k = self.n_outputs();
        // Per row: Some(probabilities) when out of bag at least once. Trees are summed in order.
        let per_row: Vec<Option<Vec<f64>>> = (0..x.nrows())
            .into_par_iter()
            .map(|r| {
                let row: Vec<f32> = x.row(r).to_vec();
                let mut acc = vec![0.0; k];
                let mut n = 0usize;
                for (t, bits) in in_bag.iter().enumerate() {
                    if bits[r >> 6] & (1 << (r & 63)) == 0 {
                        let leaf = self.engine.leaf_of(t, &row);
                        self.engine.add_leaf(leaf, &mut acc);
                        n += 1;
                    }
                }
                (n > 0).then(|| {
                    let mut out = vec![0.0; self.n_classes];
                    self.finish(&acc, n as f64, &mut out);
                    out
                })
            })
            .collect();
        let mut correct = 0usize;
        let mut scored_y = Vec::new();
        let mut scored_p1 = Vec::new();
        for (p, &label) in per_row.iter().zip(y) {
            if let Some(p) = p {
                correct += usize::from(argmax(p) == label);
                scored_y.push(label);
                scored_p1.push(p.get(1).copied().unwrap_or(0.0));
            }
        }
        let n_scored = scored_y.len();
        let roc_auc = if self.n_classes == 2 {
            metrics::roc_auc(&scored_y, &scored_p1).ok()
        } else {
            None
        };
        Ok(OobScore {
            accuracy: if n_scored > 0 {
                correct as f64 / n_scored as f64
            } else {
                0.0
            },
            roc_auc,
            n_scored,
        })
    }

    /// Values per leaf: 1 for a binary forest (P(class 1)), else one per class.
    pub(crate) fn n_outputs(&self) -> usize {
        if self.n_classes == 2 {
            1
        } else {
            self.n_classes
        }
    }

    /// Turns summed tree outputs over `n_trees` trees into class probabilities.
    fn finish(&self, acc: &[f64], n_trees: f64, out: &mut [f64]) {
        if self.n_classes == 2 {
            let p1 = acc[0] / n_trees;
            out[0] = 1.0 - p1;
            out[1] = p1;
        } else {
            for (o, a) in out.iter_mut().zip(acc) {
                *o = a / n_trees;
            }
        }
    }

    /// Class probabilities, rows × classes. Parallel over row blocks on the current rayon pool;
    /// bit-identical to [`Self::predict_proba_row`] on every row.
    pub fn predict_proba(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
        if x.ncols() != self.n_features {
            return Err(TrainError::ModelShape {
                what: "features",
                expected: self.n_features,
                got: x.ncols(),
            });
        }
        let (n, nf) = x.dim();
        let nc = self.n_classes;
        let k = self.n_outputs();
        let n_trees = self.engine.n_trees() as f64;
        let mut out = vec![0.0; n * nc];
        // Each chunk validates its own rows (no serial pass); chunks come back in row order, so
        // the first error is the first offending row.
        let score_chunk = |ci: usize, out_chunk: &mut [f64]| -> Result<()> {
            let start = ci * PREDICT_CHUNK;
            let m = out_chunk.len() / nc;
            let view = x.slice_axis(Axis(0), Slice::from(start..start + m));
            check_finite(view).map_err(|e| match e {
                TrainError::NonFinite { row, column, value } => TrainError::NonFinite {
                    row: start + row,
                    column,
                    value,
                },
                other => other,
            })?;
            let rows: Cow<'_, [f32]> = match view.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(view.iter().copied().collect()),
            };
            debug_assert_eq!(rows.len(), m * nf);
            let mut acc = vec![0.0; m * k];
            self.engine.accumulate_rows(&rows, &mut acc);
            for (a, o) in acc.chunks(k).zip(out_chunk.chunks_mut(nc)) {
                self.finish(a, n_trees, o);
            }
            Ok(())
        };
        if n <= PREDICT_CHUNK {
            // One chunk: score on the caller's thread. Handing a small batch (a server's
            // request) to the rayon pool costs a cross-thread round trip and oversubscribes
            // a thread-per-core server.
            score_chunk(0, &mut out)?;
        } else {
            let results: Vec<Result<()>> = out
                .par_chunks_mut(PREDICT_CHUNK * nc)
                .enumerate()
                .map(|(ci, out_chunk)| score_chunk(ci, out_chunk))
                .collect();
            results.into_iter().collect::<Result<()>>()?;
        }
        Array2::from_shape_vec((n, nc), out).map_err(|e| TrainError::Linfa(e.into()))
    }

    /// Class probabilities of one row into `out` (len `n_classes`), without allocating.
    pub fn predict_proba_row(&self, row: &[f32], out: &mut [f64]) -> Result<()> {
        check_row(row, self.n_features)?;
        if out.len() != self.n_classes {
            return Err(TrainError::LengthMismatch {
                what: "output slice vs classes",
                expected: self.n_classes,
                got: out.len(),
            });
        }
        out.fill(0.0);
        let n_trees = self.engine.n_trees() as f64;
        if self.n_classes == 2 {
            let mut acc = [0.0];
            self.engine.accumulate_row(row, &mut acc);
            self.finish(&acc, n_trees, out);
        } else {
            self.engine.accumulate_row(row, out);
            for o in out.iter_mut() {
                *o /= n_trees;
            }
        }
        Ok(())
    }

    /// Most probable class per row (ties go to the lower class index).
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Array1<usize>> {
        let proba = self.predict_proba(x)?;
        Ok(proba
            .outer_iter()
            .map(|p| argmax(p.as_slice().unwrap_or(&p.to_vec())))
            .collect())
    }

    /// Binary only: class 1 when P(class 1) >= `threshold`, else 0.
    pub fn predict_with_threshold(
        &self,
        x: ArrayView2<'_, f32>,
        threshold: f64,
    ) -> Result<Array1<usize>> {
        if self.n_classes != 2 {
            return Err(TrainError::NotBinary {
                operation: "predict_with_threshold",
                n_classes: self.n_classes,
            });
        }
        let proba = self.predict_proba(x)?;
        Ok(proba
            .column(1)
            .iter()
            .map(|&p| usize::from(p >= threshold))
            .collect())
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.engine.n_trees()
    }
    /// Total nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.engine.n_nodes()
    }
    /// The hyperparameters the forest was trained with.
    pub fn params(&self) -> &RandomForestValidParams {
        &self.params
    }
    /// Mean decrease in impurity per feature, normalised to sum to 1 (all zero for a forest of
    /// single-leaf trees).
    pub fn impurity_importances(&self) -> &[f64] {
        &self.impurity_importances
    }
    /// Out-of-bag score, when trained with `oob_score(true)`.
    pub fn oob_score(&self) -> Option<&OobScore> {
        self.oob.as_ref()
    }
    /// The trees in canonical preorder (the order of the encoding and of node cover).
    pub(crate) fn preorder_trees(&self) -> Vec<tree::PreorderTree> {
        self.engine.to_trees()
    }
    /// Training cover of every node (trees in order, each tree's nodes in preorder), when the
    /// forest carries it (fitted by this crate, or read from an artifact of format 1.3.0 or
    /// later). See [`Self::view`] for the per-tree structure.
    pub fn node_cover(&self) -> Option<&[f64]> {
        self.cover.as_deref()
    }
    /// A read-only view of every tree (children, split feature, threshold, cover, leaf values),
    /// e.g. for an explainer. Built on each call: keep it.
    pub fn view(&self) -> ForestView {
        ForestView::new(
            &self.engine.to_trees(),
            self.cover.as_deref(),
            self.n_classes,
        )
    }
    /// Exact size in bytes of the trees in a binary serde format (e.g. postcard/bincode);
    /// human-readable formats carry them as base64 (× 4/3).
    pub fn serialized_size_hint(&self) -> usize {
        codec::encoded_len(&self.engine.to_trees(), self.n_outputs())
    }
}

pub(crate) fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

fn normalise_importances(fitted: &[FittedTree], n_features: usize) -> Vec<f64> {
    let mut total = vec![0.0; n_features];
    let mut used = 0usize;
    for f in fitted {
        let sum: f64 = f.grown.importances.iter().sum();
        if sum > 0.0 {
            used += 1;
            for (t, v) in total.iter_mut().zip(&f.grown.importances) {
                *t += v / sum;
            }
        }
    }
    let sum: f64 = total.iter().sum();
    if used > 0 && sum > 0.0 {
        for t in &mut total {
            *t /= sum;
        }
    }
    total
}

/// Most classes a forest has: labels are `u16` class indices below 65535 (see `class_count`).
pub(crate) const MAX_CLASSES: usize = u16::MAX as usize;

/// Version of [`RandomForest`]'s serde form; bumped on any incompatible change.
pub const FOREST_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct ForestWire<'a> {
    format_version: u32,
    tree_encoding: u32,
    n_features: usize,
    n_classes: usize,
    n_trees: usize,
    params: Cow<'a, RandomForestValidParams>,
    impurity_importances: Cow<'a, [f64]>,
    oob: Option<OobScore>,
    #[serde(
        serialize_with = "codec::serialize_blob",
        deserialize_with = "codec::deserialize_blob"
    )]
    trees: Vec<u8>,
    /// Since artifact format 1.3.0: every node's cover as `f64` LE, trees in order, preorder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_cover: Option<codec::Blob>,
}

impl Serialize for RandomForest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ForestWire {
            format_version: FOREST_FORMAT_VERSION,
            tree_encoding: codec::TREE_ENCODING_VERSION,
            n_features: self.n_features,
            n_classes: self.n_classes,
            n_trees: self.engine.n_trees(),
            params: Cow::Borrowed(&self.params),
            impurity_importances: Cow::Borrowed(&self.impurity_importances),
            oob: self.oob.clone(),
            trees: codec::encode(&self.engine.to_trees(), self.n_outputs()),
            node_cover: self.cover.as_deref().map(codec::encode_cover),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RandomForest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ForestWire::deserialize(deserializer)?;
        Self::from_wire(wire).map_err(serde::de::Error::custom)
    }
}

impl RandomForest {
    fn from_wire(wire: ForestWire<'_>) -> Result<Self> {
        let bad = |reason: String| TrainError::Decode { reason };
        if wire.format_version != FOREST_FORMAT_VERSION {
            return Err(bad(format!(
                "forest format version {} is not supported (this build reads {})",
                wire.format_version, FOREST_FORMAT_VERSION
            )));
        }
        if wire.tree_encoding != codec::TREE_ENCODING_VERSION {
            return Err(bad(format!(
                "tree encoding {} is not supported (this build reads {})",
                wire.tree_encoding,
                codec::TREE_ENCODING_VERSION
            )));
        }
        if wire.n_classes < 2 || wire.n_features == 0 || wire.n_trees == 0 {
            return Err(bad(format!(
                "{} classes, {} features, {} trees: need at least 2, 1, 1",
                wire.n_classes, wire.n_features, wire.n_trees
            )));
        }
        // Bounds before anything is sized by these counts (the tree decoder bounds n_trees and
        // every node count by the bytes that hold them).
        if wire.n_features >= usize::from(LEAF) {
            return Err(bad(format!(
                "n_features {} exceeds the supported {}",
                wire.n_features,
                usize::from(LEAF) - 1
            )));
        }
        if wire.n_classes > MAX_CLASSES {
            return Err(bad(format!(
                "n_classes {} exceeds the supported {MAX_CLASSES}",
                wire.n_classes
            )));
        }
        if wire.impurity_importances.len() != wire.n_features {
            return Err(bad(format!(
                "{} importances for {} features",
                wire.impurity_importances.len(),
                wire.n_features
            )));
        }
        let n_outputs = if wire.n_classes == 2 {
            1
        } else {
            wire.n_classes
        };
        let trees = codec::decode(&wire.trees, wire.n_trees, n_outputs)?;
        let engine = FlatForest::from_trees(&trees, n_outputs, wire.n_features)?;
        let cover = wire
            .node_cover
            .map(|blob| codec::decode_cover(&blob, engine.n_nodes()))
            .transpose()?;
        Ok(Self {
            params: wire.params.into_owned(),
            n_features: wire.n_features,
            n_classes: wire.n_classes,
            engine,
            impurity_importances: wire.impurity_importances.into_owned(),
            oob: wire.oob,
            cover,
        })
    }
}
